/**
 * Early warnings for what ends the whole fleet at once: the CA certificate and the CRL.
 * Shown by `fleetca ca list` and logged by the server at start and daily.
 */
import type { LoadedMaterial } from "../material.js";

/** How far ahead an end date is worth a warning. */
export const EXPIRY_WARNING_DAYS = 90;
const DAY_MS = 86_400_000;

export interface ExpiryWarning {
  what: "ca-certificate" | "crl";
  /** When it ends (ISO 8601). */
  at: string;
  daysLeft: number;
  /** The command that pushes the date back. */
  fix: string;
  message: string;
}

export function expiryWarnings(m: Pick<LoadedMaterial, "cert" | "crl">, now: Date): ExpiryWarning[] {
  const out: ExpiryWarning[] = [];
  const check = (what: ExpiryWarning["what"], end: Date, label: string, fix: string, why: string) => {
    const left = end.getTime() - now.getTime();
    if (left > EXPIRY_WARNING_DAYS * DAY_MS) return;
    const daysLeft = Math.floor(left / DAY_MS);
    const when = left <= 0 ? `expired on ${end.toISOString()}` : `expires on ${end.toISOString()} (in ${daysLeft} day${daysLeft === 1 ? "" : "s"})`;
    out.push({ what, at: end.toISOString(), daysLeft, fix, message: `Warning: the ${label} ${when}; ${why}. Fix: ${fix}` });
  };
  check("ca-certificate", m.cert.notAfter, `CA certificate "${m.cert.commonName}"`, "fleetca ca extend", "from then on every agent refuses the CA and every certificate it issued");
  check("crl", m.crl.nextUpdate, "CRL", "fleetca ca refresh-crl", "after it, agents refuse to connect (a running fleetca server signs it again by itself)");
  return out;
}
