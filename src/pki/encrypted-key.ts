/**
 * PKCS#8 EncryptedPrivateKeyInfo (RFC 5958) with PBES2 (RFC 8018): AES-256-CBC under a key
 * derived from a passphrase by scrypt (RFC 7914, as `openssl pkcs8 -topk8 -scrypt` writes it)
 * or PBKDF2-HMAC-SHA256. Written here rather than with KeyObject.export({ cipher }) because
 * that one offers neither scrypt nor an iteration count (PBKDF2 at OpenSSL's 2,048).
 * Node and `openssl pkey -passin` read both.
 */
import crypto, { type KeyObject } from "node:crypto";
import { integer, nullValue, octets, oid, seq } from "./der.js";
import { toPem } from "./pem.js";

export const PBE_OID = {
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSha256: "1.2.840.113549.2.9",
  scrypt: "1.3.6.1.4.1.11591.4.11",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
} as const;

export type Kdf =
  /** N 2^14, r 8, p 1: OpenSSL's defaults, the most its PEM reader accepts (32 MiB of scrypt memory). */
  | { kind: "scrypt"; N: number; r: number; p: number }
  | { kind: "pbkdf2"; iterations: number };

export const SCRYPT_DEFAULT: Kdf = { kind: "scrypt", N: 1 << 14, r: 8, p: 1 };

function deriveKey(passphrase: string, salt: Buffer, kdf: Kdf): Buffer {
  const pass = Buffer.from(passphrase.normalize("NFC"), "utf8");
  if (kdf.kind === "pbkdf2") return crypto.pbkdf2Sync(pass, salt, kdf.iterations, 32, "sha256");
  return crypto.scryptSync(pass, salt, 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + (16 << 20) });
}

function kdfAlgorithm(salt: Buffer, kdf: Kdf): Buffer {
  if (kdf.kind === "pbkdf2") return seq(oid(PBE_OID.pbkdf2), seq(octets(salt), integer(kdf.iterations), seq(oid(PBE_OID.hmacWithSha256), nullValue())));
  return seq(oid(PBE_OID.scrypt), seq(octets(salt), integer(kdf.N), integer(kdf.r), integer(kdf.p), integer(32)));
}

/** The EncryptedPrivateKeyInfo DER of a private key under `passphrase`. */
export function encryptPrivateKeyDer(key: KeyObject, passphrase: string, kdf: Kdf = SCRYPT_DEFAULT): Buffer {
  if (passphrase === "") throw new Error("an empty passphrase protects nothing");
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv("aes-256-cbc", deriveKey(passphrase, salt, kdf), iv);
  const plain = key.export({ type: "pkcs8", format: "der" });
  const data = Buffer.concat([cipher.update(plain), cipher.final()]);
  plain.fill(0);
  const algorithm = seq(oid(PBE_OID.pbes2), seq(kdfAlgorithm(salt, kdf), seq(oid(PBE_OID.aes256Cbc), octets(iv))));
  return seq(algorithm, octets(data));
}

/** The PEM label of a PKCS#8 encrypted key (RFC 7468), as `openssl pkcs8 -topk8 -scrypt` writes it. */
export const ENCRYPTED_KEY_LABEL = "ENCRYPTED PRIVATE KEY";

export function encryptPrivateKeyPem(key: KeyObject, passphrase: string, kdf: Kdf = SCRYPT_DEFAULT): string {
  return toPem(encryptPrivateKeyDer(key, passphrase, kdf), ENCRYPTED_KEY_LABEL);
}

export const isEncryptedKeyPem = (pem: string): boolean => pem.includes(`-----BEGIN ${ENCRYPTED_KEY_LABEL}-----`);

export class WrongKeyPassphraseError extends Error {
  constructor() {
    super("the passphrase does not open the key");
    this.name = "WrongKeyPassphraseError";
  }
}

/** Opens an encrypted PEM key (any PBES2 OpenSSL reads); WrongKeyPassphraseError when the passphrase is not its. */
export function decryptPrivateKeyPem(pem: string, passphrase: string): KeyObject {
  try {
    return crypto.createPrivateKey({ key: pem, format: "pem", passphrase: Buffer.from(passphrase.normalize("NFC"), "utf8") });
  } catch (e) {
    // OpenSSL says "bad decrypt" (or a DER error on the garbage a wrong key decrypts to).
    if (/bad decrypt|wrong|decrypt|asn1|header too long|nested asn1/i.test((e as Error).message)) throw new WrongKeyPassphraseError();
    throw e;
  }
}
