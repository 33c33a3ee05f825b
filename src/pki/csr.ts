/**
 * PKCS#10 certificate signing requests: read just the fields the CA needs (hot path),
 * verify the self-signature with Node's OpenSSL, and build CSRs for agents and `generate`.
 */
import crypto, { type KeyObject } from "node:crypto";
import {
  children, content, decodeOid, decodeString, DerError, expectTag, integer, oid, printable, readTlv, seq, set,
  slice, bitString, Tag, utf8, tlv,
} from "./der.js";
import { encodeAltNames, decodeAltNames } from "./altnames.js";
import { extension, parseRequestedExtensions, utf8Extension, type Extension } from "./extensions.js";
import { HASH_BY_SIG_OID, publicKeyFromSpki, signAsync, signatureSchemeFor, spkiDer } from "./keys.js";
import { cnName, commonNameOf, parseName, type Rdn } from "./name.js";
import { OID } from "./oids.js";
import { fromPem, PemError, toPem } from "./pem.js";

export class CsrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CsrError";
  }
}

export interface ParsedCsr {
  readonly der: Buffer;
  readonly subject: Rdn[];
  /** The subject CN; "" when there is none (Puppet reports it that way). */
  readonly commonName: string;
  readonly spki: Buffer;
  readonly extensions: Extension[];
  /** Decoded subjectAltName entries ("DNS:a", "IP:…"), empty when absent. */
  readonly altNames: string[];
  /** Attributes other than extensionRequest, as text, e.g. challengePassword. */
  readonly attributes: { oid: string; value: string }[];
  readonly signatureOid: string;
  /** The signed part and the signature, kept for verification. */
  readonly info: Buffer;
  readonly signature: Buffer;
}

/** Parses a PEM CSR; CsrError says what is wrong in words an operator can act on. */
export function parseCsrPem(pem: string): ParsedCsr {
  let der: Buffer;
  try {
    der = fromPem(pem, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"], "certificate request");
  } catch (e) {
    throw new CsrError(`${(e as PemError).message}`);
  }
  return parseCsrDer(der);
}

export function parseCsrDer(der: Buffer): ParsedCsr {
  try {
    const top = readTlv(der, 0);
    if (top.end !== der.length) throw new DerError("trailing bytes after the request");
    const [infoT, algT, sigT] = children(der, expectTag(top, Tag.SEQUENCE, "CertificationRequest"));
    const info = expectTag(infoT, Tag.SEQUENCE, "CertificationRequestInfo");
    const [verT, subjT, spkiT, attrsT] = children(der, info);
    expectTag(verT, Tag.INTEGER, "version");
    const subject = parseName(der, subjT!);
    const spki = slice(der, expectTag(spkiT, Tag.SEQUENCE, "subjectPublicKeyInfo"));
    const extensions: Extension[] = [];
    const attributes: { oid: string; value: string }[] = [];
    if (attrsT) {
      if (attrsT.tag !== 0xa0) throw new DerError("attributes: expected [0]");
      for (const attr of children(der, attrsT)) {
        const [o, vals] = children(der, attr);
        const attrOid = decodeOid(content(der, expectTag(o, Tag.OID, "attribute type")));
        const first = children(der, expectTag(vals, Tag.SET, "attribute values"))[0];
        if (!first) continue;
        if (attrOid === OID.extensionRequest) extensions.push(...parseRequestedExtensions(der, first));
        else attributes.push({ oid: attrOid, value: first.tag === Tag.SEQUENCE ? "" : decodeString(der, first) });
      }
    }
    const alg = children(der, expectTag(algT, Tag.SEQUENCE, "signatureAlgorithm"))[0];
    const signatureOid = decodeOid(content(der, expectTag(alg, Tag.OID, "signature algorithm")));
    const sigBits = content(der, expectTag(sigT, Tag.BIT_STRING, "signature"));
    const san = extensions.find((e) => e.oid === OID.subjectAltName);
    return {
      der,
      subject,
      commonName: commonNameOf(subject) ?? "",
      spki,
      extensions,
      altNames: san ? decodeAltNames(san.value) : [],
      attributes,
      signatureOid,
      info: slice(der, info),
      signature: sigBits.subarray(1),
    };
  } catch (e) {
    if (e instanceof DerError) throw new CsrError(`not a valid certificate request: ${e.message}`);
    throw e;
  }
}

/** Verifies the CSR's self-signature: proof that the submitter holds the private key. */
export function verifyCsrSignature(csr: ParsedCsr): boolean {
  if (!(csr.signatureOid in HASH_BY_SIG_OID)) {
    throw new CsrError(`the request is signed with an unsupported algorithm (${csr.signatureOid}); use RSA, ECDSA or Ed25519 with SHA-2`);
  }
  let key: KeyObject;
  try {
    key = publicKeyFromSpki(csr.spki);
  } catch (e) {
    throw new CsrError(`the request's public key cannot be read: ${(e as Error).message}`);
  }
  try {
    return crypto.verify(HASH_BY_SIG_OID[csr.signatureOid]!, csr.info, key, csr.signature);
  } catch {
    return false;
  }
}

export interface CsrOptions {
  commonName: string;
  /** e.g. ["DNS:node1", "DNS:puppet"]; a bare name means DNS. */
  altNames?: string[];
  /** Extension requests: OID -> UTF8String value (csr_attributes.yaml extension_requests). */
  extensionRequests?: { oid: string; value: string }[];
  /** Attributes: OID -> value (csr_attributes.yaml custom_attributes, e.g. challengePassword). */
  attributes?: { oid: string; value: string }[];
}

/** Builds and signs a CSR in the shape Puppet's agent makes. */
export async function buildCsr(opts: CsrOptions, privateKey: KeyObject, publicKey: KeyObject): Promise<Buffer> {
  const exts: Buffer[] = [];
  if (opts.altNames && opts.altNames.length > 0) exts.push(extension(OID.subjectAltName, false, encodeAltNames(opts.altNames)));
  for (const e of opts.extensionRequests ?? []) exts.push(utf8Extension(e.oid, e.value));
  const attrs: Buffer[] = [];
  for (const a of opts.attributes ?? []) {
    // challengePassword is a DirectoryString; PrintableString when it fits, as Puppet writes it.
    const v = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(a.value) ? printable(a.value) : utf8(a.value);
    attrs.push(seq(oid(a.oid), set(v)));
  }
  if (exts.length > 0) attrs.push(seq(oid(OID.extensionRequest), set(seq(...exts))));
  const info = seq(integer(0), cnName(opts.commonName), spkiDer(publicKey), tlv(0xa0, attrs));
  const scheme = signatureSchemeFor(privateKey);
  const sig = await signAsync(info, privateKey, scheme);
  return seq(info, scheme.algorithmDer, bitString(sig));
}

export const csrToPem = (der: Uint8Array): string => toPem(der, "CERTIFICATE REQUEST");

