/**
 * The CA key at rest in PostgreSQL: AES-256-GCM under a key derived from the operator's
 * passphrase with scrypt. The KDF's parameters and salt travel with the ciphertext, so
 * they can be raised later without a schema change and any server with the passphrase can
 * open it. The CA's public key is the additional authenticated data: a sealed key copied
 * onto another CA's row does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb, type ScryptOptions } from "node:crypto";

export interface SealedKey {
  v: 1;
  kdf: "scrypt";
  /** scrypt cost (N), block size (r), parallelism (p). */
  N: number;
  r: number;
  p: number;
  salt: string;
  cipher: "aes-256-gcm";
  iv: string;
  tag: string;
  data: string;
}

/** 2^15 x 8: 32 MiB and about 0.1 s per derivation here, paid once per server start (derived keys are cached). */
const DEFAULT_COST = { N: 1 << 15, r: 8, p: 1 };

export class WrongPassphraseError extends Error {
  constructor() {
    super("the passphrase does not open the CA key");
    this.name = "WrongPassphraseError";
  }
}

function derive(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r + 64 * 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(passphrase.normalize("NFC"), salt, 32, opts, (e, k) => (e ? reject(e) : resolve(k))));
}

/** Derived keys by salt and passphrase: a server reloading its material after every revoke must not pay scrypt each time. */
export class KeyDeriver {
  private last?: { id: string; key: Buffer };

  async key(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
    const id = `${salt.toString("base64")}/${cost.N}/${cost.r}/${cost.p}/${passphrase}`;
    if (this.last?.id === id) return this.last.key;
    const key = await derive(passphrase, salt, cost);
    this.last = { id, key };
    return key;
  }
}

export async function seal(keyPem: string, passphrase: string, publicKeyPem: string, deriver = new KeyDeriver()): Promise<SealedKey> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await deriver.key(passphrase, salt, DEFAULT_COST);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(publicKeyPem.trim(), "utf8"));
  const data = Buffer.concat([cipher.update(keyPem, "utf8"), cipher.final()]);
  const b64 = (b: Buffer) => b.toString("base64");
  return { v: 1, kdf: "scrypt", ...DEFAULT_COST, salt: b64(salt), cipher: "aes-256-gcm", iv: b64(iv), tag: b64(cipher.getAuthTag()), data: b64(data) };
}

/** The key PEM, or WrongPassphraseError (GCM's tag does not tell a wrong passphrase from tampering: both refuse). */
export async function unseal(sealed: SealedKey, passphrase: string, publicKeyPem: string, deriver = new KeyDeriver()): Promise<string> {
  if (sealed.v !== 1 || sealed.kdf !== "scrypt" || sealed.cipher !== "aes-256-gcm") {
    throw new Error(`The CA key is sealed in a format this fleetca does not know (${JSON.stringify({ v: sealed.v, kdf: sealed.kdf, cipher: sealed.cipher })}); upgrade fleetca.`);
  }
  const key = await deriver.key(passphrase, Buffer.from(sealed.salt, "base64"), sealed);
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(sealed.iv, "base64"));
  decipher.setAAD(Buffer.from(publicKeyPem.trim(), "utf8"));
  decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
  try {
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new WrongPassphraseError();
  }
}
