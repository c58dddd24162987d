// Download a disk or disk snapshot: the console creates a DataExport (as `berth data export
// download` does), waits for it to be Ready, and hands the browser a same-origin link to the
// export's bytes (GET .../dataexports/NAME/data?token=...), relayed by the controller from the
// node's export stream. The browser's own download manager saves the file and shows progress
// (the size is known up front); the export expires by itself once idle.
import { useEffect, useState } from "preact/hooks";
import { API_VERSION, ApiError, Obj, condition, pathOf, request } from "../api";
import { useObject } from "../detail";
import { ErrorBox } from "../ui";

function human(bytes: number): string {
  if (!(bytes >= 0)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function ExportStatus({ ns, name, file }: { ns: string; name: string; file: string }) {
  const { obj } = useObject("dataexports", ns, name);
  const ready = obj?.status?.phase === "Ready";
  const href = ready ? `${pathOf("dataexports", ns, name)}/data?token=${encodeURIComponent(obj!.status.token)}` : "";
  useEffect(() => {
    if (!href) return;
    // Once per export: a plain link, so the browser streams the file to disk itself.
    const a = document.createElement("a");
    a.href = href;
    a.download = file;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }, [href]);
  if (!obj) return <p role="status">Preparing the export…</p>;
  const phase = obj.status?.phase || "Pending";
  if (phase === "Failed" || phase === "Expired") {
    const c = condition(obj, "Ready");
    return <ErrorBox error={`Export ${name} is ${phase}${c?.message ? `: ${c.message}` : ""}`} />;
  }
  if (!ready) return <p role="status">Export {name}: {phase}…</p>;
  return (
    <p role="status" class="export-ready">
      Downloading <strong>{file}</strong> ({human(Number(obj.status.sizeBytes))}); your browser shows
      the progress. If it did not start, <a href={href} download={file}>download it here</a>.
    </p>
  );
}

export function Download({ o, kind }: { o: Obj; kind: "VirtualDisk" | "VirtualDiskSnapshot" }) {
  const ns = o.metadata.namespace!;
  const [exportName, setExportName] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const start = async () => {
    setError(null);
    try {
      const dex = await request<Obj>("POST", pathOf("dataexports", ns), {
        apiVersion: API_VERSION,
        kind: "DataExport",
        metadata: { generateName: `${o.metadata.name.slice(0, 40)}-download-`, namespace: ns },
        spec: { targetRef: { kind, name: o.metadata.name }, ttl: "10m" },
      });
      setExportName(dex.metadata.name);
    } catch (e) {
      setError(e as ApiError);
    }
  };
  return (
    <section class="download" aria-label="Download">
      <button type="button" onClick={start}>
        Download
      </button>
      <ErrorBox error={error} />
      {exportName && <ExportStatus ns={ns} name={exportName} file={`${o.metadata.name}.img`} />}
    </section>
  );
}
