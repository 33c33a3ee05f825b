/**
 * A PKCS#12 file (RFC 7292) holding one key, its certificate and the CA chain, for services
 * that read a keystore rather than PEM files (Java's keytool and KeyStore, PuppetDB and the
 * console behind a JVM, Windows, browsers).
 *
 * Hand-written on the DER writer because the one library that writes PKCS#12 (node-forge)
 * cannot read EC keys, which fleetca issues (reference/libraries.md). The profile is OpenSSL
 * 3's default one: the key in a pkcs8ShroudedKeyBag with PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC), the certificates in clear (they are public), and the whole authenticated by
 * an HMAC-SHA256 whose key comes from the PKCS#12 KDF (RFC 7292 appendix B) with the same
 * passphrase, salt and iteration count style. `openssl pkcs12 -info` and Java 8u301+ read it.
 */
import crypto, { type KeyObject } from "node:crypto";
import { explicit, integer, nullValue, octets, oid, seq, set, tlv, Tag } from "./der.js";
import { encryptPrivateKeyDer } from "./encrypted-key.js";

const P12_OID = {
  data: "1.2.840.113549.1.7.1",
  shroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  sha256: "2.16.840.1.101.3.4.2.1",
} as const;

/** Far above OpenSSL's default 2,048: the file travels, and a guess costs this many HMACs. */
export const PKCS12_ITERATIONS = 100_000;

const bmp = (s: string) => {
  const b = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(Tag.BMP, b);
};

/** RFC 7292 B.2 for one output block of SHA-256 (the MAC key is 32 bytes, so one block is all it needs). */
function pkcs12Kdf(passphrase: string, salt: Buffer, id: number, iterations: number): Buffer {
  const u = 32;
  const v = 64;
  // The password as a BMPString with its two-byte terminator.
  const pw = Buffer.alloc((passphrase.length + 1) * 2);
  for (let i = 0; i < passphrase.length; i++) pw.writeUInt16BE(passphrase.charCodeAt(i), i * 2);
  const fill = (b: Buffer) => {
    if (b.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(b.length / v));
    for (let i = 0; i < out.length; i++) out[i] = b[i % b.length]!;
    return out;
  };
  let a = crypto.createHash("sha256").update(Buffer.alloc(v, id)).update(fill(salt)).update(fill(pw)).digest();
  for (let i = 1; i < iterations; i++) a = crypto.createHash("sha256").update(a).digest();
  return a.subarray(0, u);
}

const attributes = (friendlyName: string, localKeyId: Buffer) =>
  set(seq(oid(P12_OID.friendlyName), set(bmp(friendlyName))), seq(oid(P12_OID.localKeyId), set(octets(localKeyId))));

const dataContent = (der: Buffer) => seq(oid(P12_OID.data), explicit(0, octets(der)));

export interface Pkcs12Input {
  key: KeyObject;
  /** The key's certificate, then the CA chain, DER. */
  certificates: Buffer[];
  /** The name keytool shows as the alias. */
  friendlyName: string;
  passphrase: string;
  iterations?: number;
}

/** The PFX DER. */
export function buildPkcs12(i: Pkcs12Input): Buffer {
  if (!/^[\x20-\x7e]+$/.test(i.passphrase)) throw new Error("a PKCS#12 passphrase here is printable ASCII (other tools disagree on how to encode anything else)");
  const iterations = i.iterations ?? PKCS12_ITERATIONS;
  const [leaf, ...chain] = i.certificates;
  if (!leaf) throw new Error("a PKCS#12 file needs the key's certificate");
  const keyId = crypto.createHash("sha1").update(leaf).digest();
  const certBag = (der: Buffer, attrs?: Buffer) =>
    seq(oid(P12_OID.certBag), explicit(0, seq(oid(P12_OID.x509Certificate), explicit(0, octets(der)))), ...(attrs ? [attrs] : []));
  const certs = seq(certBag(leaf, attributes(i.friendlyName, keyId)), ...chain.map((c) => certBag(c)));
  const shrouded = encryptPrivateKeyDer(i.key, i.passphrase, { kind: "pbkdf2", iterations });
  const keys = seq(seq(oid(P12_OID.shroudedKeyBag), explicit(0, shrouded), attributes(i.friendlyName, keyId)));
  const authSafe = seq(dataContent(certs), dataContent(keys));
  const salt = crypto.randomBytes(16);
  const mac = crypto.createHmac("sha256", pkcs12Kdf(i.passphrase, salt, 3, iterations)).update(authSafe).digest();
  const macData = seq(seq(seq(oid(P12_OID.sha256), nullValue()), octets(mac)), octets(salt), integer(iterations));
  return seq(integer(3), dataContent(authSafe), macData);
}
