// Upload an image file as a VirtualDisk or VirtualImage, as `berth data import upload` does:
// create the object with dataSource Upload, wait for WaitForUserUpload, send the file's
// non-zero 4 MiB chunks (in 2 MiB requests) through the controller to the node, then the
// sha256-tree-4MiB-64KiB digest, which the node checks against what it stored. Any failure
// after the object was created deletes it again: nothing is left half-made.
import { useState } from "preact/hooks";
import { API_VERSION, ApiError, Obj, errorOf, headers, parseQuantity, pathOf, request } from "../api";
import { href } from "../route";
import { Dialog, FormActions, Field } from "../ui";

const CHUNK = 4 << 20;  // the digest's chunk
const LEAF = 64 << 10;  // the digest's leaf
const PIECE = 2 << 20;  // bytes per request (the API takes at most 3 MiB in one body)
const ALGORITHM = "sha256-tree-4MiB-64KiB";

async function sha256(data: BufferSource): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

async function chunkDigest(buf: ArrayBuffer): Promise<Uint8Array> {
  const leaves = new Uint8Array(Math.ceil(buf.byteLength / LEAF) * 32);
  for (let i = 0, off = 0; off < buf.byteLength; i++, off += LEAF) {
    leaves.set(await sha256(new Uint8Array(buf, off, Math.min(LEAF, buf.byteLength - off))), i * 32);
  }
  return sha256(leaves);
}

function isZero(buf: ArrayBuffer): boolean {
  const words = new Uint32Array(buf, 0, Math.floor(buf.byteLength / 4));
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  const tail = new Uint8Array(buf, words.length * 4);
  return tail.every((b) => b === 0);
}

async function send(method: string, path: string, body: BodyInit, extra: Record<string, string>) {
  const res = await fetch(path, { method, headers: headers(extra), body });
  if (!res.ok) throw await errorOf(res);
}

async function waitPhase(path: string, want: string, timeoutMs: number): Promise<Obj> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const o = await request<Obj>("GET", path);
    const phase = o.status?.phase;
    if (phase === want) return o;
    if (phase === "Failed") {
      const c = (o.status?.conditions || []).find((x: any) => x.type === "Ready");
      throw new ApiError(422, `${o.kind} ${o.metadata.name} failed${c?.message ? `: ${c.message}` : ""}`);
    }
    if (Date.now() > end) throw new ApiError(504, `${o.kind} ${o.metadata.name} did not reach ${want} (it is ${phase || "Pending"})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function Upload({ ns, onClose }: { ns: string; onClose: () => void }) {
  const [kind, setKind] = useState<"VirtualDisk" | "VirtualImage">("VirtualDisk");
  const [name, setName] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [size, setSize] = useState("");
  const [storageClass, setStorageClass] = useState("");
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [done, setDone] = useState(0);
  const [phase, setPhase] = useState("");
  const bytes = size ? parseQuantity(size) : file?.size ?? NaN;
  let sizeProblem = "";
  if (size && Number.isNaN(bytes)) sizeProblem = `"${size}" is not a size: write it like 10Gi.`;
  else if (file && bytes < file.size) sizeProblem = `The size must be at least the file's, ${file.size} bytes.`;
  const plural = kind === "VirtualDisk" ? "virtualdisks" : "virtualimages";

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file || sizeProblem) return;
    setError(null);
    setDone(0);
    const spec: any = { dataSource: { type: "Upload" } };
    if (kind === "VirtualDisk") spec.persistentVolumeClaim = { size: String(Math.ceil(bytes)) };
    else spec.storage = "PersistentVolumeClaim";
    if (storageClass) spec.persistentVolumeClaim = { ...(spec.persistentVolumeClaim || {}), storageClassName: storageClass };
    const path = pathOf(plural, ns, name);
    setPhase("Creating");
    try {
      await request("POST", pathOf(plural, ns), { apiVersion: API_VERSION, kind, metadata: { name, namespace: ns }, spec });
    } catch (err) {
      setPhase("");
      setError(err as ApiError);
      return;  // nothing was created
    }
    try {
      setPhase("Waiting for the node");
      await waitPhase(path, "WaitForUserUpload", 120000);
      setPhase("Uploading");
      const digests: Uint8Array[] = [];
      for (let off = 0; off < file.size; off += CHUNK) {
        const buf = await file.slice(off, Math.min(off + CHUNK, file.size)).arrayBuffer();
        digests.push(await chunkDigest(buf));
        if (!isZero(buf)) {
          for (let p = 0; p < buf.byteLength; p += PIECE) {
            const piece = buf.slice(p, Math.min(p + PIECE, buf.byteLength));
            const a = off + p;
            await send("PUT", `${path}/upload`, piece, {
              "Content-Type": "application/octet-stream",
              "Content-Range": `bytes ${a}-${a + piece.byteLength - 1}/${file.size}`,
            });
          }
        }
        setDone(Math.min(file.size, off + CHUNK));
      }
      const material = new Uint8Array(new TextEncoder().encode(`${ALGORITHM} ${file.size}\n`).length + digests.length * 32);
      const head = new TextEncoder().encode(`${ALGORITHM} ${file.size}\n`);
      material.set(head, 0);
      digests.forEach((d, i) => material.set(d, head.length + i * 32));
      const digest = [...(await sha256(material))].map((b) => b.toString(16).padStart(2, "0")).join("");
      setPhase("Verifying");
      await send("POST", `${path}/upload`, JSON.stringify({ size: file.size, digest }), { "Content-Type": "application/json" });
      await waitPhase(path, "Ready", 120000);
      setPhase("Ready");
      onClose();
      if (kind === "VirtualDisk") location.hash = href({ ns, section: "disks", name });
    } catch (err) {
      setPhase("");
      setError(err as Error);
      await request("DELETE", path).catch(() => undefined);  // nothing half-made stays
    }
  };
  return (
    <Dialog title="Upload an image" onClose={onClose}>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Upload as</legend>
          <label class="radio">
            <input type="radio" name="kind" checked={kind === "VirtualDisk"} onChange={() => setKind("VirtualDisk")} /> Disk
          </label>
          <label class="radio">
            <input type="radio" name="kind" checked={kind === "VirtualImage"} onChange={() => setKind("VirtualImage")} /> Image
          </label>
        </fieldset>
        <Field label="Name">
          <input name="name" value={name} required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Image file" hint="A raw disk image. Zero-filled 4 MiB chunks are not sent.">
          <input name="file" type="file" required onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] || null)} />
        </Field>
        {kind === "VirtualDisk" && (
          <Field label="Size" hint="Default: the file's size.">
            <input name="size" value={size} aria-invalid={sizeProblem ? "true" : undefined} onInput={(e) => setSize((e.target as HTMLInputElement).value.trim())} />
          </Field>
        )}
        {sizeProblem && (
          <p class="field-error" role="alert">
            {sizeProblem}
          </p>
        )}
        <Field label="StorageClass Name">
          <input name="storageClass" value={storageClass} onInput={(e) => setStorageClass((e.target as HTMLInputElement).value)} />
        </Field>
        {phase && (
          <p role="status" class="upload-progress">
            {phase}
            {phase === "Uploading" && file && (
              <>
                {" "}
                <progress max={file.size} value={done} /> {Math.floor((100 * done) / file.size)}%
              </>
            )}
          </p>
        )}
        <FormActions error={error} submit="Upload" cancel="Close" disabled={!!phase && phase !== "Ready" || !!sizeProblem} onCancel={onClose} />
      </form>
    </Dialog>
  );
}
