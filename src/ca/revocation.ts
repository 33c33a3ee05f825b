/**
 * Revocation records: the CRL and (later) OCSP are views of them. A record says which serial,
 * for which certname, when, why (RFC 5280 CRLReason) and who revoked it.
 */
import { REASON_CODES, type RevocationReason } from "../pki/crl-reasons.js";
import { CaError } from "./errors.js";

export { REASON_CODES, reasonFromCode, type RevocationReason } from "../pki/crl-reasons.js";

/** Puppet revokes with keyCompromise every time; so does fleetca unless told otherwise. */
export const DEFAULT_REASON: RevocationReason = "keyCompromise";

export interface RevocationRecord {
  readonly serial: bigint;
  /** The certname; "" when only the CRL knew the serial (an imported CA without inventory). */
  readonly name: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
  /** The principal's label, or "crl" for a record rebuilt from the CRL. */
  readonly by: string;
}

export function reasonCode(r: RevocationReason): number {
  return REASON_CODES[r];
}

/** Parses a reason as an operator types it: the RFC name in any case, with or without dashes, or its code. */
export function parseReason(text: string): RevocationReason {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const code = Number(t);
    const hit = (Object.keys(REASON_CODES) as RevocationReason[]).find((k) => REASON_CODES[k] === code);
    if (hit) return hit;
  }
  const norm = t.replace(/[-_\s]/g, "").toLowerCase();
  const hit = (Object.keys(REASON_CODES) as RevocationReason[]).find((k) => k.toLowerCase() === norm);
  if (hit) return hit;
  throw new CaError("invalid-request", `Unknown revocation reason ${JSON.stringify(text)}; use one of ${Object.keys(REASON_CODES).join(", ")} (RFC 5280 names) or their codes.`);
}

/** A serial as Puppet and `fleetca ca list` print it: hexadecimal, optionally 0x-prefixed, any case. */
export function parseSerialHex(text: string): bigint {
  const m = /^(?:0x)?([0-9A-Fa-f]{1,40})$/.exec(text.trim());
  if (!m) throw new CaError("invalid-request", `A serial is hexadecimal, as \`fleetca ca list\` prints it (e.g. 1F or 0x1f), not ${JSON.stringify(text)}.`);
  return BigInt(`0x${m[1]}`);
}
