/**
 * The agent's closed set of failures. Each carries a message a user can act on and the remedies that fix it;
 * the CLI turns remedies into exact commands and kinds into exit codes (one table, so a new kind must be mapped).
 */

export type AgentErrorKind =
  /** waitforcert is 0 and the CA has not signed yet. */
  | "not-signed"
  /** Waited maxwaitforcert without a signature. */
  | "timed-out"
  /** The certificate (or the request the CA holds) is for another key than this node's private key. */
  | "key-mismatch"
  /** The server's TLS certificate does not verify against the saved CA certificate. */
  | "ca-changed"
  /** First contact: the CA certificate served is not the one --ca-fingerprint names. */
  | "ca-pin-mismatch"
  /** This node's certificate was not issued by the saved CA. */
  | "untrusted-cert"
  | "revoked"
  /** A certificate's notBefore is in the future: clock skew. */
  | "not-yet-valid"
  | "expired"
  /** The server could not be reached, or answered something unexpected. */
  | "unavailable"
  /** The server's certificate does not name the host we connected to. */
  | "server-name-mismatch"
  /** The CA refused the certificate request (name, policy). */
  | "rejected"
  /** The server refused this node's certificate for a reason other than revocation. */
  | "server-refused"
  /** `verify`/`show`/`renew` found no certificate. */
  | "missing"
  /** A file in the ssldir (or csr_attributes.yaml) cannot be read or parsed. */
  | "invalid-file";

/** What fixes a failure; the CLI prints these as commands with the user's own flags. */
export type Remedy =
  | { on: "ca"; action: "clean" | "sign" | "sign-with-alt-names"; certname: string }
  | { on: "ca"; action: "fingerprint-ca" }
  | { on: "agent"; action: "clean" | "clean-all" | "bootstrap" | "bootstrap-pinned" }
  | { on: "agent"; action: "check-clock" }
  | { note: string };

export class AgentError extends Error {
  readonly kind: AgentErrorKind;
  readonly remedies: readonly Remedy[];
  /** Extra lines of facts (paths, fingerprints, dates) shown under the message. */
  readonly details: readonly string[];

  constructor(kind: AgentErrorKind, message: string, opts: { remedies?: Remedy[]; details?: string[] } = {}) {
    super(message);
    this.name = "AgentError";
    this.kind = kind;
    this.remedies = Object.freeze([...(opts.remedies ?? [])]);
    this.details = Object.freeze([...(opts.details ?? [])]);
  }
}

export const isAgentError = (e: unknown): e is AgentError => e instanceof AgentError;

/** The seed's wording for a key mismatch; kept verbatim because operators search for it. */
export const KEY_MISMATCH_MESSAGE = "The certificate retrieved from the master does not match the agent's private key.";

/** Re-enrollment after the CA forgot or revoked this node: clean on both sides, then bootstrap again. */
export function reenroll(certname: string): Remedy[] {
  return [
    { on: "ca", action: "clean", certname },
    { on: "agent", action: "clean" },
    { on: "agent", action: "bootstrap" },
  ];
}
