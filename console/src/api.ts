// The console's only way to the cluster: the controller's Kubernetes REST API, with the bearer
// token the user signed in with (or, with no token, the browser's client certificate).

export const GROUP = "virtualization.deckhouse.io";
export const VERSION = "v1alpha2";
export const API_VERSION = `${GROUP}/${VERSION}`;

const TOKEN_KEY = "berth.token";

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t: string | null): void {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  managedFields?: unknown;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

// Objects are kept as the server sent them; pages read the fields they show.
export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  spec?: any;
  status?: any;
  [key: string]: any;
}

export interface Cause {
  field?: string;
  message?: string;
  reason?: string;
}

// A failed call, in the server's words: kube's Status message and its causes.
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string = "",
    readonly causes: Cause[] = [],
  ) {
    super(message);
  }
}

// Signed-out handling: a 401 anywhere sends the user back to sign-in with the server's reason.
let onUnauthorized: (message: string) => void = () => {};
export function setUnauthorizedHandler(f: (message: string) => void): void {
  onUnauthorized = f;
}

export function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// The error of a failed response: kube's Status (message, reason, causes) when the server sent
// one, else the body or the status line.
export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const s = JSON.parse(text);
    if (s && s.kind === "Status") {
      return new ApiError(res.status, s.message || res.statusText, s.reason || "", s.details?.causes || []);
    }
  } catch {
    // not a Status: fall through
  }
  return new ApiError(res.status, text.trim() || `${res.status} ${res.statusText}`);
}

export async function request<T = any>(
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": contentType }),
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, `cannot reach the controller: ${(e as Error).message}`);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401) onUnauthorized(err.message);
    throw err;
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

// The REST path of a collection or object. plural may be "core/secrets" style for the core group.
export function pathOf(plural: string, ns?: string, name?: string): string {
  const core = plural === "events" || plural === "secrets" || plural === "namespaces";
  let p = core ? "/api/v1" : `/apis/${API_VERSION}`;
  if (ns) p += `/namespaces/${encodeURIComponent(ns)}`;
  p += `/${plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  return p;
}

export interface Identity {
  username: string;
  groups: string[];
  admin: boolean;
  namespaces: string[];
}

export async function whoAmI(): Promise<Identity> {
  const r = await request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
    apiVersion: "authentication.k8s.io/v1",
    kind: "SelfSubjectReview",
  });
  const u = r.status?.userInfo || {};
  const extra = u.extra || {};
  return {
    username: u.username || "",
    groups: u.groups || [],
    admin: (extra["berth.deckhouse.io/admin"] || [])[0] === "true",
    namespaces: extra["berth.deckhouse.io/namespaces"] || [],
  };
}

// Kubernetes quantities ("10Gi", "512M", "1.5Gi") in bytes; NaN when malformed.
export function parseQuantity(q: string | number | undefined): number {
  if (q === undefined || q === "") return NaN;
  if (typeof q === "number") return q;
  const m = /^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|k|m)?$/.exec(q.trim());
  if (!m) return NaN;
  const n = parseFloat(m[1]);
  const unit = m[2] || "";
  const pow: Record<string, number> = {
    "": 1, m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  };
  return n * pow[unit];
}

export function condition(o: Obj, type: string): Condition | undefined {
  return (o.status?.conditions || []).find((c: Condition) => c.type === type);
}

export function age(ts?: string): string {
  if (!ts) return "";
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
