/**
 * OCSP (RFC 6960) on the lean DER pieces: the OCSPRequest reader and the OCSPResponse writer.
 * Only what a responder needs: each CertID (kept as its DER, which the response echoes byte
 * for byte, as RFC 6960 4.2.1 asks), the nonce extension (echoed whole), and the
 * BasicOCSPResponse around SingleResponses. A request's optional signature is ignored (no
 * responder fleetca runs requires signed requests). Every byte written here is read back by
 * `openssl ocsp` in the tests.
 */
import crypto, { type KeyObject } from "node:crypto";
import {
  bitString, children, content, decodeInteger, decodeOid, DerError, explicit, expectTag, octets, oid, readTlv,
  seq, slice, Tag, tlv, type Tlv,
} from "./der.js";
import { parseExtensions } from "./extensions.js";
import { signAsync, signatureSchemeFor, type SignatureScheme } from "./keys.js";

export const OCSP_OID = {
  /** id-pkix-ocsp-basic: the only responseType fleetca writes. */
  basic: "1.3.6.1.5.5.7.48.1.1",
  /** id-pkix-ocsp-nonce (RFC 8954). */
  nonce: "1.3.6.1.5.5.7.48.1.2",
  /** id-pkix-ocsp-nocheck: "do not check this responder certificate's revocation". */
  noCheck: "1.3.6.1.5.5.7.48.1.5",
  /** id-kp-OCSPSigning. */
  ocspSigning: "1.3.6.1.5.5.7.3.9",
} as const;

/** CertID hash algorithms fleetca answers for (SHA-1 is what most clients, openssl included, send). */
const HASH_BY_OID: Readonly<Record<string, OcspHash>> = Object.freeze({
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
});

export type OcspHash = "sha1" | "sha256" | "sha384" | "sha512";
export const OCSP_HASHES: readonly OcspHash[] = ["sha1", "sha256", "sha384", "sha512"];

/** More CertIDs than this in one request is refused as malformed: each one is a status lookup. */
export const MAX_CERT_IDS = 100;
/** RFC 8954 bounds a nonce to 1..32 octets; a little slack for clients that pad. */
const MAX_NONCE = 64;

export interface CertId {
  /** The CertID SEQUENCE as the client sent it; the SingleResponse repeats it. */
  readonly der: Buffer;
  /** Undefined when the hash algorithm is not one fleetca computes (the answer is then "unknown"). */
  readonly hash?: OcspHash;
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  readonly serial: bigint;
}

export interface OcspRequest {
  readonly certIds: readonly CertId[];
  /** The whole nonce Extension, to echo in responseExtensions; undefined when the client sent none. */
  readonly nonce?: Buffer;
}

/** A request read, or why it is malformed (RFC 6960 malformedRequest). */
export type ParsedOcspRequest = { readonly ok: true; readonly request: OcspRequest } | { readonly ok: false; readonly reason: string };

/** Reads an OCSPRequest. Never throws: anything that is not one is `{ ok: false }`. */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  try {
    return { ok: true, request: readRequest(Buffer.from(der.buffer, der.byteOffset, der.length)) };
  } catch (e) {
    if (e instanceof DerError || e instanceof RangeError || e instanceof TypeError) return { ok: false, reason: e.message };
    throw e;
  }
}

function readRequest(der: Buffer): OcspRequest {
  if (der.length === 0) throw new DerError("empty request");
  const top = expectTag(readTlv(der, 0), Tag.SEQUENCE, "OCSPRequest");
  if (top.end !== der.length) throw new DerError("bytes after the OCSPRequest");
  const [tbsT, sigT, extra] = children(der, top);
  if (extra || (sigT && sigT.tag !== 0xa0)) throw new DerError("OCSPRequest: unexpected field after tbsRequest");
  const f = children(der, expectTag(tbsT, Tag.SEQUENCE, "tbsRequest"));
  let i = 0;
  if (f[i]?.tag === 0xa0) {
    const v = expectTag(readTlv(der, f[i]!.contentStart, f[i]!.end), Tag.INTEGER, "version");
    if (decodeInteger(content(der, v)) !== 0n) throw new DerError("unsupported OCSPRequest version");
    i++;
  }
  if (f[i]?.tag === 0xa1) i++; // requestorName: not used
  const list = children(der, expectTag(f[i++], Tag.SEQUENCE, "requestList"));
  if (list.length === 0) throw new DerError("requestList is empty");
  if (list.length > MAX_CERT_IDS) throw new DerError(`more than ${MAX_CERT_IDS} certificates asked about`);
  let nonce: Buffer | undefined;
  if (f[i]?.tag === 0xa2) {
    const exts = parseExtensions(der, readTlv(der, f[i]!.contentStart, f[i]!.end));
    const n = exts.find((e) => e.oid === OCSP_OID.nonce);
    if (n) {
      if (n.value.length === 0 || n.value.length > MAX_NONCE + 2) throw new DerError("nonce length out of range");
      nonce = n.der;
    }
    i++;
  }
  if (i !== f.length) throw new DerError("tbsRequest: unexpected field");
  return { certIds: list.map((r) => readCertId(der, r)), nonce };
}

function readCertId(der: Buffer, request: Tlv): CertId {
  const [idT, extsT, extra] = children(der, expectTag(request, Tag.SEQUENCE, "Request"));
  if (extra || (extsT && extsT.tag !== 0xa0)) throw new DerError("Request: unexpected field");
  const id = expectTag(idT, Tag.SEQUENCE, "CertID");
  const [algT, nameT, keyT, serialT, more] = children(der, id);
  if (more) throw new DerError("CertID: unexpected field");
  const [algOid] = children(der, expectTag(algT, Tag.SEQUENCE, "hashAlgorithm"));
  const hashOid = decodeOid(content(der, expectTag(algOid, Tag.OID, "hashAlgorithm")));
  const serialBytes = content(der, expectTag(serialT, Tag.INTEGER, "serialNumber"));
  if (serialBytes.length === 0 || serialBytes.length > 32) throw new DerError("serialNumber out of range");
  return {
    der: slice(der, id),
    hash: HASH_BY_OID[hashOid],
    issuerNameHash: content(der, expectTag(nameT, Tag.OCTET_STRING, "issuerNameHash")),
    issuerKeyHash: content(der, expectTag(keyT, Tag.OCTET_STRING, "issuerKeyHash")),
    serial: decodeInteger(serialBytes),
  };
}

// ---------------------------------------------------------------- writing

/** OCSPResponseStatus values fleetca answers with (unauthorized, 6, is never needed: it answers for its one CA). */
export const OcspResponseStatus = { successful: 0, malformedRequest: 1, internalError: 2, tryLater: 3 } as const;
export type OcspErrorStatus = "malformedRequest" | "internalError" | "tryLater";

const ERROR_RESPONSES = new Map<OcspErrorStatus, Buffer>();

/** An OCSPResponse without responseBytes: the whole answer to a request that cannot be answered. */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  let der = ERROR_RESPONSES.get(status);
  if (!der) ERROR_RESPONSES.set(status, (der = seq(tlv(Tag.ENUMERATED, Buffer.from([OcspResponseStatus[status]])))));
  return der;
}

export type OcspCertStatus = { readonly kind: "good" } | { readonly kind: "revoked"; readonly at: Date; readonly reasonCode?: number } | { readonly kind: "unknown" };

export interface SingleResponseInput {
  readonly certIdDer: Buffer;
  readonly status: OcspCertStatus;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** The last few times encoded: the answers of one second share thisUpdate and nextUpdate. */
const recentTimes = new Map<number, Buffer>();

/** GeneralizedTime, seconds, "Z": what RFC 6960 (through RFC 5280 4.1.2.5.2) wants in every OCSP time. */
export function generalizedTime(d: Date): Buffer {
  const ms = d.getTime();
  const hit = recentTimes.get(ms);
  if (hit) return hit;
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  const der = tlv(Tag.GENERALIZED_TIME, Buffer.from(s, "latin1"));
  if (recentTimes.size >= 16) recentTimes.clear();
  recentTimes.set(ms, der);
  return der;
}

const GOOD = Buffer.from([0x80, 0x00]);
const UNKNOWN = Buffer.from([0x82, 0x00]);

function certStatus(s: OcspCertStatus): Buffer {
  switch (s.kind) {
    case "good":
      return GOOD;
    case "unknown":
      return UNKNOWN;
    case "revoked": {
      // RevokedInfo, [1] IMPLICIT: revocationTime, then revocationReason [0] EXPLICIT CRLReason.
      // "unspecified" is left out, as the CRL entry leaves it out (RFC 5280 5.3.1).
      const parts = [generalizedTime(s.at)];
      if (s.reasonCode !== undefined && s.reasonCode !== 0) parts.push(explicit(0, tlv(Tag.ENUMERATED, Buffer.from([s.reasonCode]))));
      return tlv(0xa1, parts);
    }
  }
}

export function singleResponse(r: SingleResponseInput): Buffer {
  return seq(r.certIdDer, certStatus(r.status), generalizedTime(r.thisUpdate), explicit(0, generalizedTime(r.nextUpdate)));
}

/** Who signs the answers: the CA key, or a delegated responder's key and certificate. */
export interface OcspSigningKey {
  readonly key: KeyObject;
  readonly scheme: SignatureScheme;
  /** ResponderID byKey: SHA-1 of the signer's subjectPublicKey bits (RFC 6960 4.2.1). */
  readonly keyHash: Buffer;
  /** The delegated responder's certificate (DER), sent in `certs`; undefined when the CA key signs. */
  readonly certDer?: Buffer;
}

/** A signing key description for `key`, whose public half's SubjectPublicKeyInfo is `spki`. */
export function ocspSigningKey(key: KeyObject, spki: Buffer, certDer?: Buffer): OcspSigningKey {
  return { key, scheme: signatureSchemeFor(key), keyHash: subjectKeyHash(spki, "sha1"), certDer };
}

/** Hash of the subjectPublicKey BIT STRING's bits (no tag, length or unused-bits byte): CertID's issuerKeyHash. */
export function subjectKeyHash(spki: Uint8Array, hash: OcspHash): Buffer {
  const top = readTlv(spki, 0);
  const [, bits] = children(spki, top);
  const value = content(spki, expectTag(bits, Tag.BIT_STRING, "subjectPublicKey")).subarray(1);
  return crypto.createHash(hash).update(value).digest();
}

export interface ResponseInput {
  readonly producedAt: Date;
  readonly responses: readonly Buffer[];
  /** The request's nonce Extension, echoed as it came. */
  readonly nonce?: Buffer;
}

/** The signed OCSPResponse (successful, id-pkix-ocsp-basic). The signature runs off the main thread. */
export async function signOcspResponse(input: ResponseInput, signer: OcspSigningKey): Promise<Buffer> {
  const tbs = responseData(input, signer.keyHash);
  const signature = await signAsync(tbs, signer.key, signer.scheme);
  return basicResponse(tbs, signer, signature);
}

/** ResponseData (v1, the default, left out): byKey responderID, producedAt, responses, nonce. */
export function responseData(input: ResponseInput, keyHash: Buffer): Buffer {
  const parts = [explicit(2, octets(keyHash)), generalizedTime(input.producedAt), seq(...input.responses)];
  if (input.nonce) parts.push(explicit(1, seq(input.nonce)));
  return seq(...parts);
}

const BASIC_OID = oid(OCSP_OID.basic);
const SUCCESSFUL = tlv(Tag.ENUMERATED, Buffer.from([0]));

export function basicResponse(tbs: Buffer, signer: OcspSigningKey, signature: Buffer): Buffer {
  const basic = [tbs, signer.scheme.algorithmDer, bitString(signature)];
  if (signer.certDer) basic.push(explicit(0, seq(signer.certDer)));
  return seq(SUCCESSFUL, explicit(0, seq(BASIC_OID, octets(seq(...basic)))));
}
