/**
 * The audit trail and the meter: ports, not options. Every change and every refusal becomes
 * one AuditRecord, appended by the store in the same durable step as the change where the
 * store can (a signing batch, a revocation, a submitted request), else right after it under
 * the same lock. The Meter sees every outcome; its default does nothing, so metrics attach
 * at the edge without touching the domain.
 */
import { principalLabel, type Principal } from "./principal.js";

export const AUDIT_ACTIONS = [
  "submitted", "signed", "rejected", "revoked", "cleaned", "deleted", "generated", "renewed",
  "setup", "imported", "settings-reloaded", "pruned", "crl-refreshed",
  "crl-updated",
  "user-added", "user-changed", "user-deleted", "login", "login-locked", "logout", "autosign-edited",
  "backup", "regenerated", "reenroll-dismissed", "extended",
  "overlap-ended",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type Outcome = "ok" | "refused";

/** One line of the audit log. Serials are uppercase hex, as Puppet prints them. */
export interface AuditRecord {
  /** ISO 8601, UTC. */
  readonly time: string;
  readonly action: AuditAction;
  readonly outcome: Outcome;
  readonly names: readonly string[];
  readonly serials: readonly string[];
  /** The principal's label (principal.ts) and its kind. */
  readonly who: string;
  readonly whoKind: Principal["kind"];
  readonly from: string;
  /** For a refusal: the message the caller got. */
  readonly reason?: string;
  /** A few words more: "autosign", "renewal", "keyCompromise", a fingerprint. */
  readonly detail?: string;
}

export interface AuditQuery {
  since?: Date;
  name?: string;
  action?: AuditAction;
  /** Newest last; at most this many (the most recent). */
  limit?: number;
}

export function auditRecord(
  now: Date,
  action: AuditAction,
  by: Principal,
  what: { names?: readonly string[]; serials?: readonly bigint[]; outcome?: Outcome; reason?: string; detail?: string },
): AuditRecord {
  return {
    time: now.toISOString(),
    action,
    outcome: what.outcome ?? "ok",
    names: what.names ?? [],
    serials: (what.serials ?? []).map(serialHex),
    who: principalLabel(by),
    whoKind: by.kind,
    from: by.from,
    ...(what.reason !== undefined ? { reason: what.reason } : {}),
    ...(what.detail !== undefined ? { detail: what.detail } : {}),
  };
}

export const serialHex = (s: bigint): string => s.toString(16).toUpperCase();

/** True when a record passes the query's filters (stores that cannot filter natively use it). */
export function auditMatches(r: AuditRecord, q: AuditQuery): boolean {
  if (q.since && Date.parse(r.time) < q.since.getTime()) return false;
  if (q.action && r.action !== q.action) return false;
  if (q.name && !r.names.includes(q.name)) return false;
  return true;
}

/** Called on every outcome of a CA operation; metrics attach here (prom-client at the edge). */
export interface Meter {
  /** `reason`: for a refusal, the CaError kind when the caller has one (a bounded set, fit for a metric label). */
  outcome(action: AuditAction, outcome: Outcome, by: Principal["kind"], reason?: string): void;
}

export const NO_METER: Meter = Object.freeze({ outcome: () => undefined });
