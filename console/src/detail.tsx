// An object's own page: its name with its phase under it, then tabs: overview (conditions),
// events, and a YAML editor that saves with the object's resourceVersion.
import { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import YAML from "yaml";
import { ApiError, Condition, Obj, age, pathOf, request } from "./api";
import { ErrorBox, Phase, Tabs } from "./ui";
import { useLive } from "./watch";

export function useObject(plural: string, ns: string | undefined, name: string) {
  const live = useLive(`${pathOf(plural, ns)}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`);
  return { obj: live.items.find((o) => o.metadata.name === name), live };
}

export function Conditions({ o }: { o: Obj }) {
  const conds: Condition[] = o.status?.conditions || [];
  if (conds.length === 0) return <p>No conditions yet.</p>;
  return (
    <table aria-label="Conditions">
      <thead>
        <tr>
          <th scope="col">Type</th>
          <th scope="col">Status</th>
          <th scope="col">Reason</th>
          <th scope="col">Message</th>
          <th scope="col">Since</th>
        </tr>
      </thead>
      <tbody>
        {conds.map((c) => (
          <tr data-condition={c.type}>
            <th scope="row">{c.type}</th>
            <td>{c.status}</td>
            <td>{c.reason}</td>
            <td>{c.message}</td>
            <td>{age(c.lastTransitionTime)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Events({ o, kind }: { o: Obj; kind: string }) {
  const live = useLive(pathOf("events", o.metadata.namespace));
  const mine = live.items
    .filter((e) => e.involvedObject?.name === o.metadata.name && e.involvedObject?.kind === kind)
    .sort((a, b) => ((a.lastTimestamp || a.metadata.creationTimestamp || "") < (b.lastTimestamp || b.metadata.creationTimestamp || "") ? -1 : 1));
  return (
    <section aria-label="Events">
      <ErrorBox error={live.error} />
      {mine.length === 0 ? (
        <p>No events.</p>
      ) : (
        <table aria-label="Events">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Reason</th>
              <th scope="col">Age</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {mine.map((e) => (
              <tr>
                <td>{e.type}</td>
                <td>{e.reason}</td>
                <td>{age(e.lastTimestamp || e.metadata.creationTimestamp)}</td>
                <td>{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function clean(o: Obj): Obj {
  const c = structuredClone(o);
  delete c.metadata.managedFields;
  return c;
}

// The YAML view: editing starts from the object as last seen; saving PUTs it back with that
// resourceVersion, so a change made meanwhile by anyone else is a conflict, not a lost update.
function YamlEditor({ o, plural }: { o: Obj; plural: string }) {
  const [text, setText] = useState(() => YAML.stringify(clean(o)));
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [conflict, setConflict] = useState(false);
  const [saved, setSaved] = useState("");
  useEffect(() => {
    if (!editing) setText(YAML.stringify(clean(o)));
  }, [o, editing]);
  const save = async () => {
    setError(null);
    setSaved("");
    let obj: Obj;
    try {
      obj = YAML.parse(text);
    } catch (e) {
      setError(new Error(`not valid YAML: ${(e as Error).message}`));
      return;
    }
    try {
      const r = await request<Obj>("PUT", pathOf(plural, o.metadata.namespace, o.metadata.name), obj);
      setEditing(false);
      setConflict(false);
      setSaved(`Saved (resourceVersion ${r.metadata.resourceVersion}).`);
    } catch (e) {
      const err = e as ApiError;
      setConflict(err.code === 409);
      setError(err);
    }
  };
  return (
    <section aria-label="YAML">
      <textarea
        aria-label="YAML of the object"
        class="yaml"
        spellcheck={false}
        readOnly={!editing}
        value={text}
        rows={Math.min(40, text.split("\n").length + 2)}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <ErrorBox error={error} />
      {conflict && (
        <p class="conflict" role="alert">
          The object changed since you opened it.{" "}
          <button
            type="button"
            onClick={() => {
              setEditing(false);
              setConflict(false);
              setError(null);
              setText(YAML.stringify(clean(o)));
            }}
          >
            Reload
          </button>
        </p>
      )}
      {saved && <p role="status">{saved}</p>}
      <div class="actions">
        {editing ? (
          <>
            <button type="button" onClick={save}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
      </div>
    </section>
  );
}

export function DeleteButton({ o, plural, after }: { o: Obj; plural: string; after: () => void }) {
  const [error, setError] = useState<ApiError | null>(null);
  return (
    <>
      <button
        type="button"
        class="danger"
        onClick={async () => {
          if (!confirm(`Delete ${o.metadata.name}?`)) return;
          try {
            await request("DELETE", pathOf(plural, o.metadata.namespace, o.metadata.name));
            after();
          } catch (e) {
            setError(e as ApiError);
          }
        }}
      >
        Delete
      </button>
      <ErrorBox error={error} />
    </>
  );
}

export function Detail({
  plural,
  kind,
  ns,
  name,
  overview,
  extraTabs = [],
  tab,
  onTab,
  backHref,
}: {
  plural: string;
  kind: string;
  ns?: string;
  name: string;
  overview?: (o: Obj) => ComponentChildren;
  extraTabs?: { id: string; title: string; render: (o: Obj) => ComponentChildren }[];
  tab?: string;
  onTab?: (id: string) => void;
  backHref?: string;
  route?: unknown;
}) {
  const { obj, live } = useObject(plural, ns, name);
  const [localTab, setLocalTab] = useState("overview");
  const current = tab || localTab;
  const select = onTab || setLocalTab;
  if (!obj) {
    return (
      <section>
        <h1>{name}</h1>
        <ErrorBox error={live.error} />
        {live.loaded && !live.error && <p role="status">{kind} {name} does not exist (or no longer exists).</p>}
      </section>
    );
  }
  const tabs = [
    { id: "overview", title: "Overview" },
    ...extraTabs.map((t) => ({ id: t.id, title: t.title })),
    { id: "events", title: "Events" },
    { id: "yaml", title: "YAML" },
  ];
  const extra = extraTabs.find((t) => t.id === current);
  return (
    <section class="detail" data-kind={kind}>
      <header class="detail-head">
        <h1>{obj.metadata.name}</h1>
        <p class="status" data-testid="status">
          <Phase o={obj} />
          {obj.status?.consistent !== undefined && (
            <span class="consistent">{obj.status.consistent ? "consistent" : "not consistent"}</span>
          )}
        </p>
        {backHref && <a href={backHref}>Back to the list</a>}
      </header>
      <Tabs tabs={tabs} current={current} onSelect={select} />
      <div role="tabpanel">
        {current === "overview" && (
          <>
            {overview && overview(obj)}
            <h2>Conditions</h2>
            <Conditions o={obj} />
            <DeleteButton o={obj} plural={plural} after={() => history.back()} />
          </>
        )}
        {extra && extra.render(obj)}
        {current === "events" && <Events o={obj} kind={kind} />}
        {current === "yaml" && <YamlEditor o={obj} plural={plural} />}
      </div>
    </section>
  );
}
