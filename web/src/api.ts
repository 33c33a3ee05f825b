/** The console's only way to the server: the JSON API under /api/v1, with the session's CSRF token on every change. */
export interface ApiError {
  status: number;
  kind: string;
  message: string;
}

export interface Me {
  kind: string;
  name: string;
  roles: string[];
  csrf?: string;
}

let csrf: string | undefined;

export function setCsrf(token: string | undefined): void {
  csrf = token;
}

/**
 * GETs started before the session is known (prefetch), taken once by the page that asks
 * for the same path: the page's data and the session check travel together instead of one
 * after the other.
 */
const early = new Map<string, Promise<unknown>>();

export function prefetch(paths: readonly string[]): void {
  for (const path of paths) {
    const p = send("GET", path);
    p.catch(() => undefined); // a 401 before login is expected; the page never asks for it then
    early.set(path, p);
  }
}

/** Forgets what was prefetched and not taken (the first page is shown; later data must be fresh). */
export function dropPrefetched(): void {
  early.clear();
}

export function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const got = method === "GET" ? early.get(path) : undefined;
  if (got) {
    early.delete(path);
    return got as Promise<T>;
  }
  return send<T>(method, path, body);
}

async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  const r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const data = (await r.json().catch(() => ({ kind: "internal", message: `The server answered ${r.status} without JSON.` }))) as T & Partial<ApiError>;
  if (!r.ok) throw { status: r.status, kind: data.kind ?? "internal", message: data.message ?? `HTTP ${r.status}` } satisfies ApiError;
  return data;
}

export const isApiError = (e: unknown): e is ApiError => typeof e === "object" && e !== null && "kind" in e && "message" in e;

export const messageOf = (e: unknown): string => (isApiError(e) ? e.message : String(e));

export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export interface Listed {
  name: string;
  state: "requested" | "signed" | "revoked";
  serial?: string;
  notBefore?: string;
  notAfter?: string;
  fingerprint: string;
  altNames: string[];
  authorizationExtensions: Record<string, string>;
}

export interface Extension {
  name: string;
  oid: string;
  value: string;
  critical: boolean;
  grantsAccess: boolean;
}

export interface Pending extends Listed {
  submittedAt?: string;
  extensions: Extension[];
  grants: string[];
}

export interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

export interface Results {
  ok: number;
  failed: number;
  items: { name: string; ok: boolean; error?: { kind: string; message: string } }[];
}

export interface AuditRecord {
  time: string;
  action: string;
  outcome: string;
  names: string[];
  serials: string[];
  who: string;
  from: string;
  reason?: string;
  detail?: string;
}
