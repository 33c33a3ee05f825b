import crypto from "node:crypto";

/** Uppercase colon-separated hex digest of DER bytes, as Puppet prints fingerprints. */
export function fingerprint(der: Uint8Array, digest = "sha256"): string {
  let hex: string;
  try {
    hex = crypto.createHash(digest).update(der).digest("hex").toUpperCase();
  } catch {
    throw new Error(`unknown digest "${digest}"; use one of sha256, sha1, sha384, sha512`);
  }
  return hex.match(/../g)!.join(":");
}
