/**
 * If-Modified-Since for the CA certificate and the CRL, so agents refreshing them
 * (ca_refresh_interval, crl_refresh_interval) get a 304 instead of the whole file.
 */
import type { FastifyReply, FastifyRequest } from "fastify";

/** The Last-Modified value of a change at `lastModified` (HTTP dates have whole seconds). */
export function lastModifiedHeader(lastModified: Date): string {
  return new Date(Math.floor(lastModified.getTime() / 1000) * 1000).toUTCString();
}

/**
 * Whether a client asking with `since` (its If-Modified-Since) holds the current copy.
 * HTTP dates have one-second resolution, so both sides are compared in whole seconds, and
 * only a client that asks from a later second than the last change gets a 304: within the
 * change's own second a client cannot tell a copy fetched before a second change (a revoke
 * a moment after the first) from one fetched after it. Puppet's agent asks with the time it
 * last checked, not with Last-Modified, so its usual refreshes still get their 304.
 */
export function isNotModified(since: string | string[] | undefined, lastModified: Date): boolean {
  if (typeof since !== "string") return false;
  const sinceMs = Date.parse(since);
  return !Number.isNaN(sinceMs) && Math.floor(sinceMs / 1000) > Math.floor(lastModified.getTime() / 1000);
}

/** Sets Last-Modified; answers 304 and returns true when the client's copy is current. */
export function notModified(request: FastifyRequest, reply: FastifyReply, lastModified: Date): boolean {
  reply.header("last-modified", lastModifiedHeader(lastModified));
  if (!isNotModified(request.headers["if-modified-since"], lastModified)) return false;
  reply.code(304).send();
  return true;
}
