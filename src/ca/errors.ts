/**
 * The closed set of things that can go wrong in the CA. Transports map `kind` to their own
 * vocabulary in one place (server/errors.ts for HTTP status, cli for exit codes), so a new
 * kind without a mapping does not compile.
 */
export const CA_ERROR_KINDS = [
  "invalid-name",
  "invalid-csr",
  "hostname-mismatch",
  "duplicate-cert",
  "disallowed-extension",
  "not-found",
  "conflict",
  "invalid-request",
  "not-initialized",
  "already-initialized",
  "invalid-ca-material",
  // The CA key cannot be used here (no passphrase, a wrong one): nothing can be signed.
  "key-unavailable",
] as const;

export type CaErrorKind = (typeof CA_ERROR_KINDS)[number];

export class CaError extends Error {
  constructor(
    readonly kind: CaErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "CaError";
  }
}

export const isCaError = (e: unknown): e is CaError => e instanceof CaError;
