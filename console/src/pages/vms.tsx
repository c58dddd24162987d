// Projects → Virtualization → Virtual Machines: the list, a VM's page with its Snapshots tab
// (create, restore with DryRun / Strict / BestEffort, clone from a snapshot), its USB devices,
// and "Clone" of the VM itself.
import { useState } from "preact/hooks";
import { API_VERSION, ApiError, Identity, Obj, age, pathOf, request } from "../api";
import { Detail } from "../detail";
import { Route, href } from "../route";
import { Dialog, ErrorBox, FormActions, Field, LiveTable, ObjectTable, Phase, Switch } from "../ui";
import { useLive } from "../watch";
import { VmUsbDevices } from "./usb";

async function create(ns: string, plural: string, kind: string, name: string, spec: unknown) {
  return request<Obj>("POST", pathOf(plural, ns), {
    apiVersion: API_VERSION,
    kind,
    metadata: name ? { name, namespace: ns } : { generateName: `${kind.toLowerCase()}-`, namespace: ns },
    spec,
  });
}

function CreateVmSnapshot({ ns, vm, onClose }: { ns: string; vm: Obj; onClose: () => void }) {
  const disks = useLive(pathOf("virtualdisks", ns));
  const [name, setName] = useState("");
  const [keepIP, setKeepIP] = useState("Always");
  const [consistent, setConsistent] = useState(true);
  const [snapClass, setSnapClass] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const vmDisks: string[] = (vm.spec?.blockDeviceRefs || []).filter((r: any) => r.kind === "VirtualDisk").map((r: any) => r.name);
  const classes = new Set<string>();
  for (const d of disks.items) {
    if (vmDisks.includes(d.metadata.name) && d.status?.storageClassName) classes.add(d.status.storageClassName);
  }
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const spec: any = { virtualMachineName: vm.metadata.name, keepIPAddress: keepIP, requiredConsistency: consistent };
    if (snapClass) {
      spec.volumeSnapshotClasses = [...classes].map((c) => ({ storageClassName: c, volumeSnapshotClassName: snapClass }));
    }
    try {
      await create(ns, "virtualmachinesnapshots", "VirtualMachineSnapshot", name, spec);
      onClose();
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <Dialog title="Create VM snapshot" onClose={onClose}>
      <form onSubmit={submit}>
        <Field label="Snapshot name">
          <input name="name" value={name} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <fieldset>
          <legend>Configuration</legend>
          <Field label="IP address conversion policy">
            <select name="keepIPAddress" value={keepIP} onChange={(e) => setKeepIP((e.target as HTMLSelectElement).value)}>
              <option value="Always">Always</option>
              <option value="Never">Never</option>
            </select>
          </Field>
          <Switch label="Consistency Guarantee" checked={consistent} onChange={setConsistent} />
          <Field label="Snapshot Storage Class" hint="Berth keeps disk snapshots in the pool of each disk's storage class.">
            <select name="snapshotClass" value={snapClass} onChange={(e) => setSnapClass((e.target as HTMLSelectElement).value)}>
              <option value="">The disks' own classes</option>
              {[...classes].sort().map((c) => (
                <option value={c}>{c}</option>
              ))}
            </select>
          </Field>
        </fieldset>
        <FormActions error={error} submit="Create" onCancel={onClose} />
      </form>
    </Dialog>
  );
}

// The resources an operation reports, each with its status and conflict message.
function OperationResult({ ns, plural, name }: { ns: string; plural: string; name: string }) {
  const live = useLive(`${pathOf(plural, ns)}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`);
  const op = live.items[0];
  if (!op) return <p role="status">Waiting for operation {name}…</p>;
  const failed = (op.status?.conditions || []).find((c: any) => c.status === "False" && c.message);
  return (
    <section class="operation" aria-label={`Operation ${name}`} data-phase={op.status?.phase || "Pending"}>
      <p role="status">
        Operation <strong>{name}</strong>: <Phase o={op} />
        {failed && <span class="message"> {failed.message}</span>}
      </p>
      {(op.status?.resources || []).length > 0 && (
        <table aria-label="Resources">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {op.status.resources.map((r: any) => (
              <tr class={r.status === "Failed" || r.status === "Conflict" ? "conflict" : ""} data-status={r.status}>
                <td>{r.kind}</td>
                <td>{r.name}</td>
                <td>{r.status}</td>
                <td>{r.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function ModeField({ mode, setMode }: { mode: string; setMode: (m: string) => void }) {
  return (
    <fieldset>
      <legend>Mode</legend>
      {["DryRun", "Strict", "BestEffort"].map((m) => (
        <label class="radio">
          <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {m}
        </label>
      ))}
    </fieldset>
  );
}

function Restore({ ns, vm, snapshot, onClose }: { ns: string; vm: string; snapshot: string; onClose: () => void }) {
  const [mode, setMode] = useState("DryRun");
  const [error, setError] = useState<ApiError | null>(null);
  const [op, setOp] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const o = await create(ns, "virtualmachineoperations", "VirtualMachineOperation", "", {
        type: "Restore",
        virtualMachineName: vm,
        restore: { mode, virtualMachineSnapshotName: snapshot },
      });
      setOp(o.metadata.name);
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <Dialog title={`Restore ${vm} from ${snapshot}`} onClose={onClose}>
      <form onSubmit={submit}>
        <ModeField mode={mode} setMode={setMode} />
        <FormActions error={error} submit="Restore" cancel="Close" onCancel={onClose} />
      </form>
      {op && <OperationResult ns={ns} plural="virtualmachineoperations" name={op} />}
    </Dialog>
  );
}

interface Replacement {
  kind: string;
  from: string;
  to: string;
}

// Clone a VM (VirtualMachineOperation Clone) or a VM snapshot (VirtualMachineSnapshotOperation).
function Clone({ ns, vm, snapshot, onClose }: { ns: string; vm: string; snapshot?: string; onClose: () => void }) {
  const [mode, setMode] = useState("Strict");
  const [prefix, setPrefix] = useState("");
  const [suffix, setSuffix] = useState("");
  const [repl, setRepl] = useState<Replacement[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [op, setOp] = useState("");
  const plural = snapshot ? "virtualmachinesnapshotoperations" : "virtualmachineoperations";
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: any = { mode };
    const custom: any = {};
    if (prefix) custom.namePrefix = prefix;
    if (suffix) custom.nameSuffix = suffix;
    if (prefix || suffix) body.customization = custom;
    const r = repl.filter((x) => x.from && x.to);
    if (r.length) body.nameReplacements = r.map((x) => ({ from: { kind: x.kind, name: x.from }, to: { name: x.to } }));
    try {
      const o = snapshot
        ? await create(ns, plural, "VirtualMachineSnapshotOperation", "", {
            type: "CreateVirtualMachine",
            virtualMachineSnapshotName: snapshot,
            createVirtualMachine: body,
          })
        : await create(ns, plural, "VirtualMachineOperation", "", { type: "Clone", virtualMachineName: vm, clone: body });
      setOp(o.metadata.name);
    } catch (err) {
      setError(err as ApiError);
    }
  };
  const set = (i: number, patch: Partial<Replacement>) => setRepl(repl.map((x, j) => (j === i ? { ...x, ...patch } : x)));
  return (
    <Dialog title={snapshot ? `Clone from snapshot ${snapshot}` : `Clone ${vm}`} onClose={onClose}>
      <form onSubmit={submit}>
        <ModeField mode={mode} setMode={setMode} />
        <Field label="Name prefix">
          <input name="namePrefix" value={prefix} onInput={(e) => setPrefix((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Name suffix">
          <input name="nameSuffix" value={suffix} onInput={(e) => setSuffix((e.target as HTMLInputElement).value)} />
        </Field>
        <fieldset>
          <legend>Name replacements</legend>
          {repl.map((x, i) => (
            <div class="replacement">
              <select aria-label="Kind" value={x.kind} onChange={(e) => set(i, { kind: (e.target as HTMLSelectElement).value })}>
                {["VirtualMachine", "VirtualDisk", "VirtualMachineIPAddress", "VirtualMachineMACAddress", "Secret"].map((k) => (
                  <option value={k}>{k}</option>
                ))}
              </select>
              <input aria-label="From name" value={x.from} onInput={(e) => set(i, { from: (e.target as HTMLInputElement).value })} />
              <input aria-label="To name" value={x.to} onInput={(e) => set(i, { to: (e.target as HTMLInputElement).value })} />
              <button type="button" onClick={() => setRepl(repl.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setRepl([...repl, { kind: "VirtualMachine", from: vm, to: "" }])}>
            Add replacement
          </button>
        </fieldset>
        <FormActions error={error} submit="Clone" cancel="Close" onCancel={onClose} />
      </form>
      {op && <OperationResult ns={ns} plural={plural} name={op} />}
    </Dialog>
  );
}

function Snapshots({ ns, vm }: { ns: string; vm: Obj }) {
  const live = useLive(pathOf("virtualmachinesnapshots", ns));
  const [creating, setCreating] = useState(false);
  const [restoring, setRestoring] = useState("");
  const [cloning, setCloning] = useState("");
  const mine = live.items.filter((s) => s.spec?.virtualMachineName === vm.metadata.name);
  return (
    <section aria-label="Snapshots">
      <div class="actions">
        <button type="button" onClick={() => setCreating(true)}>
          Create
        </button>
      </div>
      <ErrorBox error={live.error} />
      <ObjectTable
        label="VM snapshots"
        items={mine}
        empty={live.loaded ? "No snapshots of this VM." : "Loading…"}
        href={() => href({ ns, section: "vms", name: vm.metadata.name, tab: "snapshots" })}
        columns={[
          { title: "Phase", cell: (o) => <Phase o={o} /> },
          { title: "Consistent", cell: (o) => (o.status?.consistent === undefined ? "" : String(o.status.consistent)) },
          { title: "Resources", cell: (o) => (o.status?.resources || []).map((r: any) => `${r.kind}/${r.name}`).join(", ") },
          { title: "Age", cell: (o) => age(o.metadata.creationTimestamp) },
          {
            title: "Actions",
            cell: (o) => (
              <>
                <button type="button" onClick={() => setRestoring(o.metadata.name)}>
                  Restore
                </button>{" "}
                <button type="button" onClick={() => setCloning(o.metadata.name)}>
                  Clone
                </button>
              </>
            ),
          },
        ]}
      />
      {creating && <CreateVmSnapshot ns={ns} vm={vm} onClose={() => setCreating(false)} />}
      {restoring && <Restore ns={ns} vm={vm.metadata.name} snapshot={restoring} onClose={() => setRestoring("")} />}
      {cloning && <Clone ns={ns} vm={vm.metadata.name} snapshot={cloning} onClose={() => setCloning("")} />}
    </section>
  );
}

function VmPage({ ns, route }: { ns: string; route: Route }) {
  const name = route.name!;
  const [cloning, setCloning] = useState(false);
  return (
    <>
      <Detail
        plural="virtualmachines"
        kind="VirtualMachine"
        ns={ns}
        name={name}
        tab={route.tab}
        onTab={(tab) => (location.hash = href({ ns, section: "vms", name, tab }))}
        backHref={href({ ns, section: "vms" })}
        overview={(o) => (
          <dl class="facts">
            <dt>Node</dt>
            <dd>{o.status?.nodeName}</dd>
            <dt>IP address</dt>
            <dd>{o.status?.ipAddress}</dd>
            <dt>Run policy</dt>
            <dd>{o.spec?.runPolicy}</dd>
            <dt>Disks</dt>
            <dd>{(o.spec?.blockDeviceRefs || []).map((r: any) => `${r.kind}/${r.name}`).join(", ")}</dd>
            <dd>
              <button type="button" onClick={() => setCloning(true)}>
                Clone
              </button>
            </dd>
          </dl>
        )}
        extraTabs={[
          { id: "snapshots", title: "Snapshots", render: (o) => <Snapshots ns={ns} vm={o} /> },
          { id: "usb", title: "USB devices", render: (o) => <VmUsbDevices vm={o} /> },
        ]}
      />
      {cloning && <Clone ns={ns} vm={name} onClose={() => setCloning(false)} />}
    </>
  );
}

export function VirtualMachines({ ns, route }: { ns: string; route: Route; id: Identity }) {
  const live = useLive(pathOf("virtualmachines", ns));
  if (route.name) return <VmPage ns={ns} route={route} />;
  return (
    <section>
      <header class="list-head">
        <h1>Virtual Machines</h1>
      </header>
      <LiveTable
        label="Virtual machines"
        live={live}
        empty="No virtual machines in this project."
        href={(o) => href({ ns, section: "vms", name: o.metadata.name })}
        columns={[
          { title: "Phase", cell: (o) => <Phase o={o} /> },
          { title: "Node", cell: (o) => o.status?.nodeName },
          { title: "IPAddress", cell: (o) => o.status?.ipAddress },
          { title: "Age", cell: (o) => age(o.metadata.creationTimestamp) },
        ]}
      />
    </section>
  );
}
