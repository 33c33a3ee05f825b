/**
 * Which public keys the CA certifies: RSA of at least `minRsaKeySize` bits, and elliptic
 * curves (and EdDSA) named in `allowedKeyCurves`. A request outside is refused at
 * submission, before it is stored, so a weak key is never signed nor left pending for an
 * operator to sign by mistake.
 */
import { publicKeyFromSpki } from "../pki/keys.js";
import { CaError } from "./errors.js";

export interface KeyPolicy {
  /** Smallest RSA modulus accepted, in bits (min_rsa_key_size). Default 2048. */
  minRsaKeySize?: number;
  /** Curves accepted, by their NIST or RFC 8032 names (allowed_key_curves). Default P-256, P-384, P-521. */
  allowedKeyCurves?: readonly string[];
}

export const DEFAULT_MIN_RSA_KEY_SIZE = 2048;
export const DEFAULT_ALLOWED_KEY_CURVES: readonly string[] = ["P-256", "P-384", "P-521"];

/** OpenSSL's curve names as Node reports them, to the names settings use. */
const CURVE_NAMES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

/** Throws CaError("invalid-csr") saying what the key is and what the CA accepts. */
export function checkKeyPolicy(name: string, spki: Buffer, policy: KeyPolicy): void {
  const min = policy.minRsaKeySize ?? DEFAULT_MIN_RSA_KEY_SIZE;
  const curves = policy.allowedKeyCurves ?? DEFAULT_ALLOWED_KEY_CURVES;
  let key;
  try {
    key = publicKeyFromSpki(spki);
  } catch (e) {
    throw new CaError("invalid-csr", `The request for ${name} carries a public key that cannot be read (${(e as Error).message}). Generate a new key and request.`);
  }
  const type = key.asymmetricKeyType;
  const accepted = `this CA signs RSA keys of at least ${min} bits${curves.length > 0 ? ` and keys on ${curves.join(", ")}` : ""} (min_rsa_key_size, allowed_key_curves)`;
  if (type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < min) throw new CaError("invalid-csr", `The request for ${name} has an RSA key of ${bits} bits, too weak: ${accepted}. Generate a new key and request.`);
    return;
  }
  const curve = type === "ec" ? CURVE_NAMES[key.asymmetricKeyDetails?.namedCurve ?? ""] ?? key.asymmetricKeyDetails?.namedCurve ?? "an unnamed curve" : type === "ed25519" ? "Ed25519" : type === "ed448" ? "Ed448" : undefined;
  if (curve === undefined) throw new CaError("invalid-csr", `The request for ${name} has a ${type ?? "unknown"} key: ${accepted}. Generate a new key and request.`);
  if (!curves.some((c) => c.toLowerCase() === curve.toLowerCase())) {
    throw new CaError("invalid-csr", `The request for ${name} has a key on ${curve}, which is not allowed: ${accepted}. Generate a new key and request.`);
  }
}
