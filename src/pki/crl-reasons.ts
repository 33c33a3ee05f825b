/** RFC 5280 section 5.3.1 CRLReason codes by name (7 is unused; removeFromCRL belongs to delta CRLs, which fleetca does not make). */
export const REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REASON_CODES;

/** The reason a CRL entry's code names; an absent or unknown code reads as unspecified. */
export function reasonFromCode(code: number | undefined): RevocationReason {
  if (code === undefined) return "unspecified";
  const hit = (Object.keys(REASON_CODES) as RevocationReason[]).find((k) => REASON_CODES[k] === code);
  return hit ?? "unspecified";
}
