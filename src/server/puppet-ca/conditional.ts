/**
 * If-Modified-Since for the CA certificate and the CRL, so agents refreshing them
 * (ca_refresh_interval, crl_refresh_interval) get a 304 instead of the whole file.
 */
import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * Sets Last-Modified; answers 304 and returns true when the client's copy is current.
 * HTTP dates have one-second resolution, so both sides are compared in whole seconds.
 */
export function notModified(request: FastifyRequest, reply: FastifyReply, lastModified: Date): boolean {
  const seconds = Math.floor(lastModified.getTime() / 1000);
  reply.header("last-modified", new Date(seconds * 1000).toUTCString());
  const since = request.headers["if-modified-since"];
  if (typeof since !== "string") return false;
  const sinceMs = Date.parse(since);
  if (Number.isNaN(sinceMs) || Math.floor(sinceMs / 1000) < seconds) return false;
  reply.code(304).send();
  return true;
}
