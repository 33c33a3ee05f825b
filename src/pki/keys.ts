/** Key pairs, signatures and the AlgorithmIdentifiers that go with them. Node's OpenSSL does the maths. */
import crypto, { type KeyObject } from "node:crypto";
import os from "node:os";
import { children, content, decodeOid, expectTag, nullValue, oid, readTlv, seq, Tag } from "./der.js";
import { OID } from "./oids.js";
import { PemError } from "./pem.js";

export type KeySpec = { type: "rsa"; bits: number } | { type: "ec"; curve: "P-256" | "P-384" };

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Generates on the libuv pool, so an RSA-4096 key does not block the event loop. */
export function generateKeyPair(spec: KeySpec): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    const cb = (err: Error | null, publicKey: KeyObject, privateKey: KeyObject) =>
      err ? reject(err) : resolve({ publicKey, privateKey });
    if (spec.type === "rsa") crypto.generateKeyPair("rsa", { modulusLength: spec.bits, publicExponent: 0x10001 }, cb);
    else crypto.generateKeyPair("ec", { namedCurve: spec.curve === "P-256" ? "prime256v1" : "secp384r1" }, cb);
  });
}

/** RSA keys as PKCS#1 ("BEGIN RSA PRIVATE KEY") like Puppet; EC keys as SEC1. */
export function privateKeyToPem(key: KeyObject): string {
  if (key.asymmetricKeyType === "rsa") return key.export({ format: "pem", type: "pkcs1" }) as string;
  if (key.asymmetricKeyType === "ec") return key.export({ format: "pem", type: "sec1" }) as string;
  return key.export({ format: "pem", type: "pkcs8" }) as string;
}

export function publicKeyToPem(key: KeyObject): string {
  const pub = key.type === "private" ? crypto.createPublicKey(key) : key;
  return pub.export({ format: "pem", type: "spki" }) as string;
}

/** The SubjectPublicKeyInfo DER of a public key, or of the public half of a private key. */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === "private" ? crypto.createPublicKey(key) : key;
  return pub.export({ format: "der", type: "spki" });
}

/**
 * A public key from SubjectPublicKeyInfo DER, for verifying CSRs on the hot path. RSA and
 * P-256/P-384 keys go through JWK: OpenSSL 3's DER decoder costs ~250 us per key here,
 * building an RSA key from its numbers ~10 us and an EC key from its point ~130 us (the
 * point is still checked to be on the curve). Anything else, or anything odd, goes through
 * the DER decoder, which also produces the errors.
 */
export function publicKeyFromSpki(spki: Buffer): KeyObject {
  // One enrollment reads the same key three times (the CSR's signature, the key policy at
  // submission and again at signing): the pinned profile showed ~0.13 ms per EC key built,
  // so the last few keys are kept (KeyObjects are immutable; the map is keyed by the bytes).
  const id = spki.toString("latin1");
  const hit = recentKeys.get(id);
  if (hit) return hit;
  const key = keyFromSpki(spki);
  if (recentKeys.size >= RECENT_KEYS) recentKeys.delete(recentKeys.keys().next().value!);
  recentKeys.set(id, key);
  return key;
}

const RECENT_KEYS = 64;
const recentKeys = new Map<string, KeyObject>();

function keyFromSpki(spki: Buffer): KeyObject {
  try {
    const jwk = spkiToJwk(spki);
    if (jwk) return crypto.createPublicKey({ key: jwk, format: "jwk" });
  } catch {
    // fall through to the DER decoder
  }
  return crypto.createPublicKey({ key: spki, format: "der", type: "spki" });
}

const JWK_CURVES: Record<string, { crv: string; size: number }> = { [OID.prime256v1]: { crv: "P-256", size: 32 }, [OID.secp384r1]: { crv: "P-384", size: 48 } };

function spkiToJwk(spki: Buffer): crypto.JsonWebKey | undefined {
  const top = readTlv(spki, 0);
  if (top.end !== spki.length) return undefined;
  const [alg, bits] = children(spki, expectTag(top, Tag.SEQUENCE, "SubjectPublicKeyInfo"));
  const [algOid, params] = children(spki, expectTag(alg, Tag.SEQUENCE, "algorithm"));
  const kind = decodeOid(content(spki, expectTag(algOid, Tag.OID, "algorithm")));
  const key = content(spki, expectTag(bits, Tag.BIT_STRING, "subjectPublicKey"));
  if (key[0] !== 0) return undefined;
  const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");
  if (kind === OID.rsaEncryption) {
    const inner = key.subarray(1);
    const [n, e] = children(inner, expectTag(readTlv(inner, 0), Tag.SEQUENCE, "RSAPublicKey"));
    const strip = (b: Buffer) => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);
    return { kty: "RSA", n: b64url(strip(content(inner, expectTag(n, Tag.INTEGER, "n")))), e: b64url(strip(content(inner, expectTag(e, Tag.INTEGER, "e")))) };
  }
  if (kind === OID.ecPublicKey && params?.tag === Tag.OID) {
    const curve = JWK_CURVES[decodeOid(content(spki, params))];
    const point = key.subarray(1);
    if (!curve || point.length !== 1 + 2 * curve.size || point[0] !== 0x04) return undefined;
    return { kty: "EC", crv: curve.crv, x: b64url(point.subarray(1, 1 + curve.size)), y: b64url(point.subarray(1 + curve.size)) };
  }
  return undefined;
}

export function loadPrivateKey(pem: string, what = "private key"): KeyObject {
  try {
    return crypto.createPrivateKey({ key: pem, format: "pem" });
  } catch (e) {
    throw new PemError(`could not read the ${what}: ${(e as Error).message}. Expected a PEM RSA or EC private key, unencrypted`);
  }
}

/** How a key signs: the AlgorithmIdentifier DER and the digest handed to crypto.sign. */
export interface SignatureScheme {
  algorithmDer: Buffer;
  hash: string | null;
}

export function signatureSchemeFor(key: KeyObject): SignatureScheme {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return { algorithmDer: seq(oid(OID.sha256WithRSA), nullValue()), hash: "sha256" };
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === "secp384r1") return { algorithmDer: seq(oid(OID.ecdsaSha384)), hash: "sha384" };
      return { algorithmDer: seq(oid(OID.ecdsaSha256)), hash: "sha256" };
    }
    case "ed25519":
      return { algorithmDer: seq(oid(OID.ed25519)), hash: null };
    default:
      throw new Error(`keys of type ${key.asymmetricKeyType} cannot sign certificates here; use RSA or EC`);
  }
}

/**
 * Signatures allowed on the libuv pool at once: one per core. The pool (4 threads by
 * default) also runs every fs call; with 16 RSA-4096 signatures queued (~5 ms each) the
 * store's writes, made under the CA lock, waited behind them and the whole CA slowed to
 * the lock's pace. With this gate both cores still sign and the other threads stay free.
 */
const SIGN_SLOTS = Math.max(1, os.availableParallelism());
const SYNC_SIGN_BYTES = 64 * 1024;
let signing = 0;
const waiting: (() => void)[] = [];

/** Signs on the libuv thread pool (crypto.sign with a callback), so both cores sign at once. */
export async function signAsync(data: Uint8Array, key: KeyObject, scheme = signatureSchemeFor(key)): Promise<Buffer> {
  // An EC or Ed25519 signature of a certificate or an OCSP answer takes ~0.03-0.05 ms: less
  // than the thread pool's round trip costs the event loop, so it is made right here. RSA
  // (~5 ms for 4096 bits) and large inputs (a CRL's hash) still go to the pool.
  if (key.asymmetricKeyType !== "rsa" && data.length < SYNC_SIGN_BYTES) return crypto.sign(scheme.hash, data, key);
  // A process allowed one core (taskset, a cpuset) gains nothing from the pool: the thread
  // would take that core from the event loop anyway, and the switches between them, each
  // evicting the other's caches, cost ~1 ms per RSA-4096 signature here (bench/results, pinned).
  if (SIGN_SLOTS === 1 && data.length < SYNC_SIGN_BYTES) return crypto.sign(scheme.hash, data, key);
  if (signing >= SIGN_SLOTS) await new Promise<void>((resolve) => waiting.push(resolve));
  signing++;
  try {
    return await new Promise((resolve, reject) =>
      crypto.sign(scheme.hash, data, key, (err, sig) => (err ? reject(err) : resolve(sig))),
    );
  } finally {
    signing--;
    waiting.shift()?.();
  }
}

export function signSync(data: Uint8Array, key: KeyObject, scheme = signatureSchemeFor(key)): Buffer {
  return crypto.sign(scheme.hash, data, key);
}

/** Digest names for the signature algorithm OIDs fleetca verifies (CSRs, certificates, CRLs). */
export const HASH_BY_SIG_OID: Readonly<Record<string, string | null>> = Object.freeze({
  [OID.sha256WithRSA]: "sha256",
  [OID.sha384WithRSA]: "sha384",
  [OID.sha512WithRSA]: "sha512",
  [OID.sha1WithRSA]: "sha1",
  [OID.ecdsaSha256]: "sha256",
  [OID.ecdsaSha384]: "sha384",
  [OID.ecdsaSha512]: "sha512",
  [OID.ecdsaSha1]: "sha1",
  [OID.ed25519]: null,
  [OID.ed448]: null,
});
