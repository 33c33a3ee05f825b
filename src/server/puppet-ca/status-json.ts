/**
 * certificate_status objects in the key order Puppet Server emits (reference 1.4), so a
 * client diffing our JSON against Puppet's sees the same text. Key order carries no
 * meaning in JSON; this is fidelity, not protocol.
 */
import type { CertStatus } from "../../ca/status.js";

const REQUESTED_ORDER = ["name", "state", "dns_alt_names", "subject_alt_names", "authorization_extensions", "fingerprint", "fingerprints"] as const;
const SIGNED_ORDER = [
  "name", "dns_alt_names", "state", "authorization_extensions", "subject_alt_names", "not_before", "fingerprints", "not_after",
  "serial_number", "fingerprint",
] as const;

export function orderedStatus(s: CertStatus): Record<string, unknown> {
  const order = s.state === "requested" ? REQUESTED_ORDER : SIGNED_ORDER;
  const out: Record<string, unknown> = {};
  for (const key of order) if (s[key] !== undefined) out[key] = s[key];
  for (const [key, value] of Object.entries(s)) if (!(key in out) && value !== undefined) out[key] = value;
  return out;
}

export const statusJson = (s: CertStatus): string => JSON.stringify(orderedStatus(s));
export const statusesJson = (list: CertStatus[]): string => JSON.stringify(list.map(orderedStatus));
