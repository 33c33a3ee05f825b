/**
 * The one place CaError kinds become HTTP statuses. The Record type makes a new kind
 * without a status a compile error. Routes that must answer differently for Puppet
 * compatibility (a CSR PUT answers every policy failure with 400) say so where they do it.
 */
import type { FastifyReply } from "fastify";
import type { Logger } from "pino";
import type { CaErrorKind } from "../ca/errors.js";
import type { StoreUnavailableError } from "../ca/store.js";

export const STATUS_BY_KIND: Readonly<Record<CaErrorKind, number>> = Object.freeze({
  "invalid-name": 400,
  "invalid-csr": 400,
  "hostname-mismatch": 400,
  "duplicate-cert": 400,
  // Puppet answers a signing policy failure through certificate_status with 409.
  "disallowed-extension": 409,
  "not-found": 404,
  conflict: 409,
  "invalid-request": 400,
  // The server runs before anyone made a CA only if the store was emptied under it.
  "not-initialized": 503,
  "already-initialized": 409,
  "invalid-ca-material": 500,
  // Another server with the passphrase can sign; this one cannot until it is given it.
  "key-unavailable": 503,
});

/** A response decided by a route (bad JSON, missing key...), with Puppet's content type. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** null: no Content-Type header at all, as Puppet's 403. */
    readonly contentType: string | null = "text/plain;charset=utf-8",
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/**
 * A request the store could not complete (the database went away mid-request): 503 with
 * Retry-After, and one log line saying why. Returns the message for the body.
 */
export function storeUnavailable(e: StoreUnavailableError, log: Pick<Logger, "warn">, path: string, reply: FastifyReply): string {
  reply.header("retry-after", String(e.retryAfterSeconds));
  log.warn({ path, retryAfter: e.retryAfterSeconds }, `answered 503: ${e.message}`);
  return `${e.message} (Retry-After: ${e.retryAfterSeconds} s)`;
}
