// Live collections: list once, then watch from the list's resourceVersion; a 410 (history
// compacted) or a broken stream lists again. Every change reaches the page without a reload.
import { useEffect, useState } from "preact/hooks";
import { ApiError, Obj, errorOf, headers, request } from "./api";

export interface Live {
  items: Obj[];  // sorted by namespace/name
  loaded: boolean;  // the first page is in
  complete: boolean;  // every page is in
  error: ApiError | null;
}

// The first page is small so the first rows show at once; the rest come in larger pages.
const FIRST_PAGE = 250;
const NEXT_PAGE = 2500;

type Listener = (live: Live) => void;

function keyOf(o: Obj): string {
  return `${o.metadata.namespace || ""}/${o.metadata.name}`;
}

class Collection {
  private readonly items = new Map<string, Obj>();
  private rv = "";
  private loaded = false;
  private complete = false;
  private error: ApiError | null = null;
  private readonly abort = new AbortController();
  private sorted: Obj[] | null = null;
  private scheduled = false;
  readonly listeners = new Set<Listener>();

  constructor(private readonly path: string) {
    void this.run();
  }

  stop(): void {
    this.abort.abort();
  }

  snapshot(): Live {
    if (!this.sorted) {
      // Map keys are namespace/name already: sort the keys, not the objects.
      this.sorted = [...this.items.keys()].sort().map((k) => this.items.get(k)!);
    }
    return { items: this.sorted, loaded: this.loaded, complete: this.complete, error: this.error };
  }

  // Changes are coalesced into one render per task, so a burst of events renders once.
  private changed(): void {
    this.sorted = null;
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      const live = this.snapshot();
      for (const l of this.listeners) l(live);
    }, 0);
  }

  private async run(): Promise<void> {
    let backoff = 500;
    while (!this.abort.signal.aborted) {
      try {
        if (!this.rv) await this.list();
        await this.watch();
        backoff = 500;
      } catch (e) {
        if (this.abort.signal.aborted) return;
        const err = e instanceof ApiError ? e : new ApiError(0, String((e as Error).message || e));
        if (err.code === 410) {
          this.rv = "";
          continue;
        }
        if (err.code === 401 || err.code === 403 || err.code === 404) {
          this.error = err;
          this.loaded = true;
          this.changed();
          return;  // not a transient failure: say so and stop
        }
        this.error = err;
        this.changed();
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10000);
        this.rv = "";
      }
    }
  }

  // Lists page by page; the watch then starts from the first page's resourceVersion, so a
  // change made while later pages were read is replayed, not lost.
  private async list(): Promise<void> {
    const sep = this.path.includes("?") ? "&" : "?";
    let l = await request("GET", `${this.path}${sep}limit=${FIRST_PAGE}`);
    this.items.clear();
    this.complete = false;
    for (const o of l.items || []) this.items.set(keyOf(o), o);
    const rv = l.metadata?.resourceVersion || "";
    this.loaded = true;
    this.error = null;
    this.changed();
    while (l.metadata?.continue) {
      l = await request("GET", `${this.path}${sep}limit=${NEXT_PAGE}&continue=${encodeURIComponent(l.metadata.continue)}`);
      for (const o of l.items || []) this.items.set(keyOf(o), o);
      this.changed();
    }
    this.rv = rv;
    this.complete = true;
    this.changed();
  }

  private async watch(): Promise<void> {
    const sep = this.path.includes("?") ? "&" : "?";
    const url = `${this.path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.rv)}`;
    const res = await fetch(url, { headers: headers(), signal: this.abort.signal });
    if (!res.ok) throw await errorOf(res);
    if (!res.body) throw new ApiError(res.status, "the watch answered without a body");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;  // the server ended the watch: resume from rv
      buf += value;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line) this.apply(JSON.parse(line));
      }
    }
  }

  private apply(ev: { type: string; object: any }): void {
    const o = ev.object as Obj;
    if (ev.type === "ERROR") {
      throw new ApiError(o?.code || 500, (o as any)?.message || "watch failed");
    }
    if (o?.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
    if (ev.type === "BOOKMARK") return;
    if (ev.type === "DELETED") this.items.delete(keyOf(o));
    else this.items.set(keyOf(o), o);
    if (this.error) this.error = null;
    this.changed();
  }
}

// One watch per collection path, shared by every component showing it.
const collections = new Map<string, { c: Collection; users: number }>();

export function useLive(path: string | null): Live {
  const [live, setLive] = useState<Live>({ items: [], loaded: false, complete: false, error: null });
  useEffect(() => {
    if (!path) return;
    let entry = collections.get(path);
    if (!entry) {
      entry = { c: new Collection(path), users: 0 };
      collections.set(path, entry);
    }
    entry.users++;
    const c = entry.c;
    c.listeners.add(setLive);
    setLive(c.snapshot());
    return () => {
      c.listeners.delete(setLive);
      const e = collections.get(path);
      if (e && e.c === c && --e.users === 0) {
        e.c.stop();
        collections.delete(path);
      }
    };
  }, [path]);
  return live;
}

// Stops every watch (sign-out).
export function stopAll(): void {
  for (const { c } of collections.values()) c.stop();
  collections.clear();
}
