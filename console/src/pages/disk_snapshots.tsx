// Projects → Virtualization → Disk Images: the project's disk snapshots, live, and the
// "Create Disk Snapshot" form of the spec.
import { useState } from "preact/hooks";
import { API_VERSION, ApiError, age, pathOf, request } from "../api";
import { href } from "../route";
import { Dialog, FormActions, Field, LiveTable, Phase, Switch } from "../ui";
import { useLive } from "../watch";

export function CreateDiskSnapshot({ ns, disk, onClose }: { ns: string; disk?: string; onClose: () => void }) {
  const disks = useLive(pathOf("virtualdisks", ns));
  const [name, setName] = useState("");
  const [diskName, setDiskName] = useState(disk || "");
  const [consistent, setConsistent] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await request("POST", pathOf("virtualdisksnapshots", ns), {
        apiVersion: API_VERSION,
        kind: "VirtualDiskSnapshot",
        metadata: { name, namespace: ns },
        spec: { virtualDiskName: diskName, requiredConsistency: consistent },
      });
      onClose();
      location.hash = href({ ns, section: "disk-images", name });
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Create Disk Snapshot" onClose={onClose}>
      <form onSubmit={submit}>
        <Field label="Disk Snapshot Name">
          <input name="name" value={name} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <fieldset>
          <legend>Configuration</legend>
          <Field label="Disk Name">
            <select name="disk" value={diskName} required onChange={(e) => setDiskName((e.target as HTMLSelectElement).value)}>
              <option value="">Select a disk</option>
              {disks.items.map((d) => (
                <option value={d.metadata.name}>{d.metadata.name}</option>
              ))}
            </select>
          </Field>
          <Switch label="Consistency Guarantee" checked={consistent} onChange={setConsistent} />
        </fieldset>
        <FormActions error={error} submit="Create" disabled={busy} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

export function DiskImages({ ns }: { ns: string }) {
  const live = useLive(pathOf("virtualdisksnapshots", ns));
  const [creating, setCreating] = useState(false);
  return (
    <section>
      <header class="list-head">
        <h1>Disk Images</h1>
        <button type="button" onClick={() => setCreating(true)}>
          Create Disk Snapshot
        </button>
      </header>
      <LiveTable
        label="Disk snapshots"
        live={live}
        empty="No disk snapshots in this project."
        href={(o) => href({ ns, section: "disk-images", name: o.metadata.name })}
        columns={[
          { title: "Phase", cell: (o) => <Phase o={o} /> },
          { title: "Consistent", cell: (o) => (o.status?.consistent === undefined ? "" : String(o.status.consistent)) },
          { title: "Disk", cell: (o) => o.spec?.virtualDiskName },
          { title: "Node", cell: (o) => o.status?.node },
          { title: "Age", cell: (o) => age(o.metadata.creationTimestamp) },
        ]}
      />
      {creating && <CreateDiskSnapshot ns={ns} onClose={() => setCreating(false)} />}
    </section>
  );
}
