/** What the server needs. */
import type { FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { CertificateAuthority } from "../ca/authority.js";
import type { OcspResponder } from "../ca/ocsp.js";
import type { Settings } from "../config/index.js";
import type { PeerSource } from "./client.js";
import type { ServerMetrics } from "./ops/metrics.js";

/**
 * The server's collaborators. `ca` and `settings` are read on every request, so a reload
 * (SIGHUP) replaces them in place and the next request sees the new ones; requests in
 * flight finish with the ones they started with.
 */
export interface ServerDeps {
  ca: CertificateAuthority;
  settings: Settings;
  log: Logger;
  /** Where the client certificate comes from; default: the TLS socket. Tests inject one. */
  peer?: PeerSource;
  /** The OCSP responder (server/ocsp/); default: one signing with the CA key, made when the app is built. */
  ocsp?: OcspResponder;
  /** The time, for the JSON API's relative filters (expires_within, since); default: the wall clock. */
  now?: () => Date;
  /** Prometheus metrics (ops/metrics.ts), shared with the CA's meter; default: made with the app, HTTP and gauges only. */
  metrics?: ServerMetrics;
}

/** The `:name` path parameter. */
export function nameParam(request: FastifyRequest): string {
  return (request.params as { name?: string }).name ?? "";
}
