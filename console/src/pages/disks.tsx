// Projects → Virtualization → VM Disks: the project's disks, live, and "Create Disk" with the
// spec's restore-from-snapshot path (Source "Snapshots", a size no smaller than the original).
import { useState } from "preact/hooks";
import { API_VERSION, ApiError, Obj, age, parseQuantity, pathOf, request } from "../api";
import { href } from "../route";
import { Dialog, FormActions, Field, LiveTable, Phase } from "../ui";
import { useLive } from "../watch";
import { Upload } from "./upload";

function human(bytes: number): string {
  const units = ["B", "Ki", "Mi", "Gi", "Ti"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1 && bytes % 1024 === 0) {
    bytes /= 1024;
    i++;
  }
  return `${bytes}${units[i]}`;
}

// The size of the disk a snapshot was taken from, when that disk is still known.
function sourceSize(snapshot: Obj | undefined, disks: Obj[]): { bytes: number; disk: Obj } | null {
  if (!snapshot) return null;
  const d = disks.find((x) => x.metadata.name === snapshot.spec?.virtualDiskName);
  if (!d) return null;
  const bytes = parseQuantity(d.status?.capacity || d.spec?.persistentVolumeClaim?.size);
  return Number.isNaN(bytes) ? null : { bytes, disk: d };
}

export function CreateDisk({ ns, onClose }: { ns: string; onClose: () => void }) {
  const disks = useLive(pathOf("virtualdisks", ns));
  const snapshots = useLive(pathOf("virtualdisksnapshots", ns));
  const [name, setName] = useState("");
  const [source, setSource] = useState<"empty" | "snapshots">("snapshots");
  const [snapshot, setSnapshot] = useState("");
  const [size, setSize] = useState("");
  const [storageClass, setStorageClass] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const snap = snapshots.items.find((s) => s.metadata.name === snapshot);
  const original = source === "snapshots" ? sourceSize(snap, disks.items) : null;
  const bytes = parseQuantity(size);
  let sizeProblem = "";
  if (size && Number.isNaN(bytes)) sizeProblem = `"${size}" is not a size: write it like 10Gi or 512Mi.`;
  else if (original && bytes < original.bytes) {
    sizeProblem = `The size must be at least ${human(original.bytes)}, the size of disk ${original.disk.metadata.name} the snapshot was taken from.`;
  }
  const classes = new Set<string>();
  for (const d of disks.items) {
    const c = d.status?.storageClassName || d.spec?.persistentVolumeClaim?.storageClassName;
    if (c) classes.add(c);
  }
  const pickSnapshot = (v: string) => {
    setSnapshot(v);
    const s = snapshots.items.find((x) => x.metadata.name === v);
    const o = sourceSize(s, disks.items);
    if (o) {
      if (!size) setSize(human(o.bytes));
      if (!storageClass) setStorageClass(o.disk.status?.storageClassName || o.disk.spec?.persistentVolumeClaim?.storageClassName || "");
    }
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    if (sizeProblem) return;
    setBusy(true);
    setError(null);
    const spec: any = { persistentVolumeClaim: { size } };
    if (storageClass) spec.persistentVolumeClaim.storageClassName = storageClass;
    if (source === "snapshots") {
      spec.dataSource = { type: "ObjectRef", objectRef: { kind: "VirtualDiskSnapshot", name: snapshot } };
    }
    try {
      await request("POST", pathOf("virtualdisks", ns), {
        apiVersion: API_VERSION,
        kind: "VirtualDisk",
        metadata: { name, namespace: ns },
        spec,
      });
      onClose();
      location.hash = href({ ns, section: "disks", name });
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Create Disk" onClose={onClose}>
      <form onSubmit={submit}>
        <Field label="Disk Name">
          <input name="name" value={name} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <fieldset>
          <legend>Source</legend>
          <label class="radio">
            <input type="radio" name="source" checked={source === "empty"} onChange={() => setSource("empty")} /> Empty disk
          </label>
          <label class="radio">
            <input type="radio" name="source" checked={source === "snapshots"} onChange={() => setSource("snapshots")} /> Snapshots
          </label>
          {source === "snapshots" && (
            <Field label="Disk snapshot">
              <select name="snapshot" value={snapshot} required onChange={(e) => pickSnapshot((e.target as HTMLSelectElement).value)}>
                <option value="">Select a disk snapshot</option>
                {snapshots.items.map((s) => (
                  <option value={s.metadata.name}>
                    {s.metadata.name} ({s.status?.phase || "Pending"}, disk {s.spec?.virtualDiskName})
                  </option>
                ))}
              </select>
            </Field>
          )}
        </fieldset>
        <Field label="Size" hint={original ? `At least ${human(original.bytes)}.` : "For example 10Gi."}>
          <input
            name="size"
            value={size}
            required
            aria-invalid={sizeProblem ? "true" : undefined}
            onInput={(e) => setSize((e.target as HTMLInputElement).value.trim())}
          />
        </Field>
        {sizeProblem && (
          <p class="field-error" role="alert">
            {sizeProblem}
          </p>
        )}
        <Field label="StorageClass Name">
          <input name="storageClass" list="storage-classes" value={storageClass} onInput={(e) => setStorageClass((e.target as HTMLInputElement).value)} />
          <datalist id="storage-classes">
            {[...classes].sort().map((c) => (
              <option value={c} />
            ))}
          </datalist>
        </Field>
        <FormActions error={error} submit="Create" disabled={busy || !!sizeProblem} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

export function Disks({ ns }: { ns: string }) {
  const live = useLive(pathOf("virtualdisks", ns));
  const [creating, setCreating] = useState(false);
  const [uploading, setUploading] = useState(false);
  return (
    <section>
      <header class="list-head">
        <h1>VM Disks</h1>
        <button type="button" onClick={() => setCreating(true)}>
          Create Disk
        </button>
        <button type="button" onClick={() => setUploading(true)}>
          Upload image
        </button>
      </header>
      <LiveTable
        label="Disks"
        live={live}
        empty="No disks in this project."
        href={(o) => href({ ns, section: "disks", name: o.metadata.name })}
        columns={[
          { title: "Phase", cell: (o) => <Phase o={o} /> },
          { title: "Capacity", cell: (o) => o.status?.capacity },
          { title: "StorageClass", cell: (o) => o.status?.storageClassName },
          { title: "Node", cell: (o) => o.status?.node },
          { title: "Age", cell: (o) => age(o.metadata.creationTimestamp) },
        ]}
      />
      {creating && <CreateDisk ns={ns} onClose={() => setCreating(false)} />}
      {uploading && <Upload ns={ns} onClose={() => setUploading(false)} />}
    </section>
  );
}
