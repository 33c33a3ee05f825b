/**
 * If-Modified-Since for the CA certificate and the CRL, so agents refreshing them
 * (ca_refresh_interval, crl_refresh_interval) get a 304 instead of the whole file.
 */
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * Sets Last-Modified; answers 304 and returns true when the client's copy is current.
 * HTTP dates have one-second resolution, so both sides are compared in whole seconds, and
 * only a client that asks from a later second than the last change gets a 304: within the
 * change's own second a client cannot tell a copy fetched before a second change (a revoke
 * a moment after the first) from one fetched after it. Puppet's agent asks with the time it
 * last checked, not with Last-Modified, so its usual refreshes still get their 304.
 */
export function notModified(request: FastifyRequest, reply: FastifyReply, lastModified: Date): boolean {
  const seconds = Math.floor(lastModified.getTime() / 1000);
  reply.header("last-modified", new Date(seconds * 1000).toUTCString());
  const since = request.headers["if-modified-since"];
  if (typeof since !== "string") return false;
  const sinceMs = Date.parse(since);
  if (Number.isNaN(sinceMs) || Math.floor(sinceMs / 1000) <= seconds) return false;
  reply.code(304).send();
  return true;
}
