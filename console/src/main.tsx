// The Berth console: sign-in, projects, and the spec's web flows, all on the Kubernetes API.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, Identity, setToken, setUnauthorizedHandler, token, whoAmI } from "./api";
import { ErrorBox } from "./ui";
import { stopAll, useLive } from "./watch";
import { pathOf } from "./api";
import { DiskImages } from "./pages/disk_snapshots";
import { Disks } from "./pages/disks";
import { VirtualMachines } from "./pages/vms";
import { NodeUsbDevices, ProjectUsbDevices } from "./pages/usb";
import { Detail } from "./detail";
import { Download } from "./pages/export";
import { Route, href, parseRoute } from "./route";

function useHash(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return parseRoute(hash);
}

function SignIn({ onSignedIn, message }: { onSignedIn: (id: Identity) => void; message: string }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<ApiError | string | null>(message || null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setToken(value.trim());
    try {
      onSignedIn(await whoAmI());
    } catch (err) {
      setToken(null);
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Berth</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label class="field">
          <span class="field-label">Access token</span>
          <input
            type="password"
            name="token"
            autocomplete="off"
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
            required
          />
          <span class="hint">
            An administrator issues one with <code>berth admin token create</code>. A browser with a
            client certificate of the cluster is signed in without one.
          </span>
        </label>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function Projects({ id }: { id: Identity }) {
  const live = useLive(pathOf("namespaces"));
  const names = new Set<string>(id.namespaces);
  for (const o of live.items) names.add(o.metadata.name);
  const list = [...names].sort();
  return (
    <section>
      <h1>Projects</h1>
      <ErrorBox error={live.error} />
      {list.length === 0 && live.loaded && <p>You have no projects. An administrator grants them.</p>}
      <ul class="projects">
        {list.map((ns) => (
          <li>
            <a href={href({ ns, section: "vms" })}>{ns}</a>
          </li>
        ))}
      </ul>
      {id.admin && (
        <p>
          <a href={href({ section: "node-usb" })}>USB devices of every node</a>
        </p>
      )}
    </section>
  );
}

const SECTIONS: { id: string; title: string }[] = [
  { id: "vms", title: "Virtual Machines" },
  { id: "disks", title: "VM Disks" },
  { id: "disk-images", title: "Disk Images" },
  { id: "usb", title: "USB Devices" },
];

function Project({ route, id }: { route: Route; id: Identity }) {
  const ns = route.ns!;
  if (route.name && route.section !== "vms") {
    const kind = { disks: "VirtualDisk", "disk-images": "VirtualDiskSnapshot", usb: "USBDevice" }[route.section];
    const plural = { disks: "virtualdisks", "disk-images": "virtualdisksnapshots", usb: "usbdevices" }[route.section];
    if (kind && plural) {
      const download = kind === "VirtualDisk" || kind === "VirtualDiskSnapshot";
      return (
        <Detail
          plural={plural}
          kind={kind}
          ns={ns}
          name={route.name}
          backHref={href({ ns, section: route.section })}
          overview={download ? (o) => <Download o={o} kind={kind as "VirtualDisk" | "VirtualDiskSnapshot"} /> : undefined}
        />
      );
    }
  }
  switch (route.section) {
    case "disk-images":
      return <DiskImages ns={ns} />;
    case "disks":
      return <Disks ns={ns} />;
    case "usb":
      return <ProjectUsbDevices ns={ns} />;
    default:
      return <VirtualMachines ns={ns} route={route} id={id} />;
  }
}

function Shell({ id, onSignOut }: { id: Identity; onSignOut: () => void }) {
  const route = useHash();
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/">
          Berth
        </a>
        <nav aria-label="main">
          <a href="#/" aria-current={route.section === "projects" ? "page" : undefined}>
            Projects
          </a>
          {id.admin && (
            <a href={href({ section: "node-usb" })} aria-current={route.section === "node-usb" ? "page" : undefined}>
              Node USB devices
            </a>
          )}
        </nav>
        <span class="who" data-testid="who">
          Signed in as <strong>{id.username}</strong>
          {id.admin ? " (cluster admin)" : ""}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <div class="body">
        {route.ns && (
          <nav class="side" aria-label="Virtualization">
            <p class="project">
              Project <strong>{route.ns}</strong>
            </p>
            <p class="group">Virtualization</p>
            <ul>
              {SECTIONS.map((s) => (
                <li>
                  <a href={href({ ns: route.ns, section: s.id })} aria-current={route.section === s.id ? "page" : undefined}>
                    {s.title}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <main>
          {route.section === "projects" && <Projects id={id} />}
          {route.section === "node-usb" && <NodeUsbDevices route={route} />}
          {route.ns && <Project route={route} id={id} />}
        </main>
      </div>
    </div>
  );
}

function App() {
  const [id, setId] = useState<Identity | null>(null);
  const [checking, setChecking] = useState(true);
  const [message, setMessage] = useState("");
  useEffect(() => {
    setUnauthorizedHandler((m) => {
      if (!token()) return;  // not signed in with a token: the sign-in form is showing already
      setToken(null);
      stopAll();
      setId(null);
      setMessage(`Signed out: ${m}`);
    });
    // A stored token, or the browser's client certificate, may already sign us in.
    whoAmI()
      .then(setId)
      .catch((e: ApiError) => {
        if (token()) setMessage(e.message);
        setToken(null);
      })
      .finally(() => setChecking(false));
  }, []);
  if (checking) return <p class="loading">Loading…</p>;
  if (!id) {
    return (
      <SignIn
        message={message}
        onSignedIn={(i) => {
          setMessage("");
          setId(i);
        }}
      />
    );
  }
  return (
    <Shell
      id={id}
      onSignOut={() => {
        setToken(null);
        stopAll();
        setId(null);
        setMessage("");
        location.hash = "#/";
      }}
    />
  );
}

render(<App />, document.getElementById("app")!);
