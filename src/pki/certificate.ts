/** X.509 v3 certificates: a lean TBSCertificate writer (issuing hot path) and a reader. */
import crypto, { type KeyObject } from "node:crypto";
import {
  bitString, children, content, decodeInteger, decodeOid, decodeTime, DerError, explicit, expectTag, integer, readTlv,
  seq, slice, Tag, time, type Tlv,
} from "./der.js";
import { decodeAltNames } from "./altnames.js";
import { assertStrictDer } from "./der-strict.js";
import { parseExtensions, type Extension } from "./extensions.js";
import { HASH_BY_SIG_OID, signAsync, signatureSchemeFor, type SignatureScheme } from "./keys.js";
import { commonNameOf, parseName, type Rdn } from "./name.js";
import { OID } from "./oids.js";
import { fromPem, pemBlocks, toPem } from "./pem.js";

export interface TbsParams {
  serial: bigint;
  /** The issuer Name DER (the CA certificate's subject, byte for byte). */
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  /** Complete Extension SEQUENCEs in the order they should appear. */
  extensions: Buffer[];
}

export function buildTbs(p: TbsParams, scheme: SignatureScheme): Buffer {
  return seq(
    explicit(0, integer(2)),
    integer(p.serial),
    scheme.algorithmDer,
    p.issuer,
    seq(time(p.notBefore), time(p.notAfter)),
    p.subject,
    p.spki,
    explicit(3, seq(...p.extensions)),
  );
}

/** Builds and signs a certificate; the signature runs on the libuv pool. */
export async function issueCertificate(p: TbsParams, caKey: KeyObject): Promise<Buffer> {
  const scheme = signatureSchemeFor(caKey);
  const tbs = buildTbs(p, scheme);
  const sig = await signAsync(tbs, caKey, scheme);
  return seq(tbs, scheme.algorithmDer, bitString(sig));
}

export interface ParsedCertificate {
  readonly der: Buffer;
  readonly tbs: Buffer;
  readonly serial: bigint;
  readonly issuer: Rdn[];
  readonly issuerDer: Buffer;
  readonly subject: Rdn[];
  readonly subjectDer: Buffer;
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly extensions: Extension[];
  readonly altNames: string[];
  readonly signatureOid: string;
  readonly signature: Buffer;
}

export function parseCertificateDer(der: Buffer): ParsedCertificate {
  const top = readTlv(der, 0);
  const [tbsT, algT, sigT] = children(der, expectTag(top, Tag.SEQUENCE, "Certificate"));
  const tbsTlv = expectTag(tbsT, Tag.SEQUENCE, "TBSCertificate");
  const f = children(der, tbsTlv);
  let i = 0;
  if (f[0]?.tag === 0xa0) i++;
  const serialT = expectTag(f[i++], Tag.INTEGER, "serialNumber");
  i++; // signature algorithm (repeated outside)
  const issuerT = f[i++]!;
  const validity = children(der, expectTag(f[i++], Tag.SEQUENCE, "validity"));
  const subjectT = f[i++]!;
  const spkiT = expectTag(f[i++], Tag.SEQUENCE, "subjectPublicKeyInfo");
  let extensions: Extension[] = [];
  for (; i < f.length; i++) {
    if (f[i]!.tag === 0xa3) extensions = parseExtensions(der, readTlv(der, f[i]!.contentStart, f[i]!.end));
  }
  const subject = parseName(der, subjectT);
  const san = extensions.find((e) => e.oid === OID.subjectAltName);
  const alg = children(der, expectTag(algT, Tag.SEQUENCE, "signatureAlgorithm"))[0];
  return {
    der,
    tbs: slice(der, tbsTlv),
    serial: decodeInteger(content(der, serialT)),
    issuer: parseName(der, issuerT),
    issuerDer: slice(der, issuerT),
    subject,
    subjectDer: slice(der, subjectT),
    commonName: commonNameOf(subject) ?? "",
    notBefore: decodeTime(der, validity[0]!),
    notAfter: decodeTime(der, validity[1]!),
    spki: slice(der, spkiT),
    extensions,
    altNames: san ? decodeAltNames(san.value) : [],
    signatureOid: decodeOid(content(der, alg as Tlv)),
    signature: content(der, expectTag(sigT, Tag.BIT_STRING, "signature")).subarray(1),
  };
}

export function parseCertificatePem(pem: string): ParsedCertificate {
  try {
    return parseCertificateDer(fromPem(pem, ["CERTIFICATE"], "certificate"));
  } catch (e) {
    if (e instanceof DerError) throw new DerError(`not a valid certificate: ${e.message}`);
    throw e;
  }
}

/** Every certificate in a PEM bundle, in order (ca_crt.pem may hold a chain). */
export function parseCertificateChain(pem: string): ParsedCertificate[] {
  return pemBlocks(pem)
    .filter((b) => b.label === "CERTIFICATE")
    .map((b) => parseCertificateDer(b.der));
}

/** True when `cert` carries a valid signature by the holder of `issuerSpki`. */
export function verifySignedBy(tbs: Buffer, signatureOid: string, signature: Buffer, issuerSpki: Buffer): boolean {
  if (!(signatureOid in HASH_BY_SIG_OID)) return false;
  const key = crypto.createPublicKey({ key: issuerSpki, format: "der", type: "spki" });
  try {
    return crypto.verify(HASH_BY_SIG_OID[signatureOid]!, tbs, key, signature);
  } catch {
    return false;
  }
}

export const certToPem = (der: Uint8Array): string => toPem(der, "CERTIFICATE");

/**
 * Why relying parties could not read `cert`, or undefined when they can: the whole certificate
 * and every extension value must be strict DER (der-strict.ts), and OpenSSL (through Node)
 * must load it. A signature over bytes nobody can parse is no certificate.
 */
export function unreadableBecause(cert: ParsedCertificate): string | undefined {
  try {
    assertStrictDer(cert.der, "the certificate");
    for (const e of cert.extensions) assertStrictDer(e.value, `the value of extension ${e.oid}`);
  } catch (e) {
    if (e instanceof DerError) return e.message;
    throw e;
  }
  try {
    new crypto.X509Certificate(cert.der);
  } catch (e) {
    return `OpenSSL cannot load it (${(e as Error).message})`;
  }
  return undefined;
}
