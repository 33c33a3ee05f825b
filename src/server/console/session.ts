/**
 * Console sessions at the HTTP edge: the cookie (HttpOnly, Secure, SameSite=Strict, the
 * `__Host-` prefix so no subdomain or plain-HTTP page can set it), the CSRF header, and the
 * one ConsoleAccess per store that every server surface shares.
 */
import { timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ConsoleAccess, type LiveSession } from "../../ca/console/access.js";
import type { CaStore } from "../../ca/store.js";

export const SESSION_COOKIE = "__Host-fleetca-session";
/** The header every change made with a session carries: the session's CSRF token. */
export const CSRF_HEADER = "x-csrf-token";

const accesses = new WeakMap<CaStore, ConsoleAccess>();

/** The console's access rules over a store (one per store, so login throttling is counted once). */
export function accessFor(store: CaStore, clock?: () => Date): ConsoleAccess {
  let access = accesses.get(store);
  if (!access) accesses.set(store, (access = new ConsoleAccess(store, clock)));
  return access;
}

/** The session token in the request's cookie, if any. */
export function sessionToken(request: Pick<FastifyRequest, "headers">): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== "string") return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** The live session behind a request's cookie, or undefined. */
export async function requestSession(request: Pick<FastifyRequest, "headers" | "ip">, store: CaStore): Promise<LiveSession | undefined> {
  const token = sessionToken(request);
  return token ? accessFor(store).resolve(token, request.ip) : undefined;
}

export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
}

export const CLEARED_COOKIE = `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;

/** True when the request carries the session's CSRF token. */
export function csrfMatches(request: FastifyRequest, csrf: string): boolean {
  const sent = request.headers[CSRF_HEADER];
  if (typeof sent !== "string") return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
