/**
 * A node that lost its key after submitting sends a new request with a new key; the CA refuses it (the name has
 * a pending request) and keeps the old one, whose key is gone. The refusal's audit record carries both
 * fingerprints, so that `list` can mark the pending request as superseded and `sign` can warn before handing the
 * node a certificate it cannot use. Read from the audit trail: no new store state.
 */
import type { AuditRecord } from "./audit.js";

const DETAIL = /^pending request SHA256 ([0-9A-F:]+); refused request SHA256 ([0-9A-F:]+)$/;

/** The audit detail of such a refusal. */
export function supersededDetail(pendingSha256: string, refusedSha256: string): string {
  return `pending request SHA256 ${pendingSha256}; refused request SHA256 ${refusedSha256}`;
}

export interface Supersession {
  /** The fingerprint of the pending request (the key the node lost). */
  pending: string;
  /** The fingerprint of the newest refused request (the node's new key). */
  refused: string;
  /** When that newer request was refused (ISO 8601). */
  time: string;
}

/** How many of the most recent submission records are looked through: a lost key shows up within them. */
export const SUPERSEDED_WINDOW = 10_000;

/**
 * The supersessions in these "submitted" records (oldest first), by name: the newest refusal naming each pending
 * fingerprint. The caller matches `pending` against the request still in the store.
 */
export function supersessions(records: readonly AuditRecord[]): Map<string, Supersession> {
  const out = new Map<string, Supersession>();
  for (const r of records) {
    if (r.action !== "submitted" || r.outcome !== "refused" || r.names.length !== 1) continue;
    const m = DETAIL.exec(r.detail ?? "");
    if (!m) continue;
    out.set(r.names[0]!, { pending: m[1]!, refused: m[2]!, time: r.time });
  }
  return out;
}

/** The command that lets the node's new request in: the old request goes, the node submits again. */
export const letNewRequestIn = (name: string): string => `fleetca ca clean ${name}`;
