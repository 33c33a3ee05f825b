/** X.509 extensions: the shape shared by CSRs and certificates, and the encoders fleetca writes. */
import crypto from "node:crypto";
import {
  bitString, bool, children, content, decodeOid, explicit, expectTag, implicitPrim, integer, octets, oid, readTlv,
  seq, slice, tlv, Tag, ia5, utf8, DerError, type Tlv,
} from "./der.js";
import { assertStrictDer } from "./der-strict.js";
import { OID } from "./oids.js";

export interface Extension {
  oid: string;
  critical: boolean;
  /** The extnValue OCTET STRING's content (the DER of the extension's own value). */
  value: Buffer;
  /** The whole Extension SEQUENCE, so it can be copied verbatim into a certificate. */
  der: Buffer;
}

export function parseExtensions(buf: Uint8Array, extsSeq: Tlv): Extension[] {
  expectTag(extsSeq, Tag.SEQUENCE, "Extensions");
  return children(buf, extsSeq).map((e) => {
    const parts = children(buf, e);
    const o = expectTag(parts[0], Tag.OID, "extension id");
    let critical = false;
    let valueTlv = parts[1];
    if (valueTlv?.tag === Tag.BOOLEAN) {
      critical = content(buf, valueTlv)[0] !== 0;
      valueTlv = parts[2];
    }
    expectTag(valueTlv, Tag.OCTET_STRING, "extension value");
    return { oid: decodeOid(content(buf, o)), critical, value: content(buf, valueTlv!), der: slice(buf, e) };
  });
}

/**
 * parseExtensions for extensions a submitter wrote and the CA will copy (a CSR's): each must
 * be strict DER, extnID [critical] extnValue and nothing more, its value one strict DER value
 * (der-strict.ts); `der` is then written afresh, canonically (an explicit critical FALSE
 * dropped), so the certificate never carries the submitter's bytes around the value.
 * Throws DerError saying which extension is wrong.
 */
export function parseRequestedExtensions(buf: Uint8Array, extsSeq: Tlv): Extension[] {
  expectTag(extsSeq, Tag.SEQUENCE, "Extensions");
  return children(buf, extsSeq).map((e, i) => {
    const where = `extension ${i + 1}`;
    assertStrictDer(slice(buf, e), where);
    const parts = children(buf, expectTag(e, Tag.SEQUENCE, where));
    const o = expectTag(parts[0], Tag.OID, `${where}: extension id`);
    const extOid = decodeOid(content(buf, o));
    const hasCritical = parts[1]?.tag === Tag.BOOLEAN;
    if (parts.length !== (hasCritical ? 3 : 2)) throw new DerError(`extension ${extOid}: expected an id, an optional critical flag and a value, found ${parts.length} elements`);
    const critical = hasCritical && content(buf, parts[1]!)[0] === 0xff;
    const value = content(buf, expectTag(parts[hasCritical ? 2 : 1], Tag.OCTET_STRING, `extension ${extOid}: value`));
    assertStrictDer(value, `the value of extension ${extOid}`);
    return { oid: extOid, critical, value, der: extension(extOid, critical, value) };
  });
}

export function extension(extOid: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(extOid), bool(true), octets(value)) : seq(oid(extOid), octets(value));
}

/** The value of a Puppet extension as text: UTF8String or any string type, else hex. */
export function extensionText(value: Buffer): string {
  try {
    const t = readTlv(value, 0);
    if (t.end === value.length && [Tag.UTF8, Tag.PRINTABLE, Tag.IA5, Tag.T61].includes(t.tag as 0x0c)) {
      return content(value, t).toString("utf8");
    }
  } catch {
    /* not DER: fall through to the raw bytes */
  }
  return value.toString("utf8");
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 method 1), as OpenSSL and Puppet compute it. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  const top = readTlv(spki, 0);
  const [, bits] = children(spki, top);
  const bitsTlv = expectTag(bits, Tag.BIT_STRING, "subjectPublicKey");
  return crypto.createHash("sha1").update(content(spki, bitsTlv).subarray(1)).digest();
}

export const basicConstraints = (ca: boolean): Buffer => extension(OID.basicConstraints, true, ca ? seq(bool(true)) : seq());

/** digitalSignature + keyEncipherment for leaves; keyCertSign + cRLSign for the CA. */
export const keyUsage = (ca: boolean): Buffer =>
  extension(OID.keyUsage, true, ca ? bitString(Buffer.from([0x06]), 1) : bitString(Buffer.from([0xa0]), 5));

export const extKeyUsageServerClient = (): Buffer =>
  extension(OID.extKeyUsage, true, seq(oid(OID.serverAuth), oid(OID.clientAuth)));

export const subjectKeyId = (kid: Buffer): Buffer => extension(OID.subjectKeyIdentifier, false, octets(kid));

/** AKI keyid only (the CA's own cert, CRLs). */
export const authorityKeyIdOnly = (kid: Buffer): Buffer => extension(OID.authorityKeyIdentifier, false, seq(implicitPrim(0, kid)));

/** AKI keyid + issuer DirName + issuer serial, as Puppet writes it on leaf certificates. */
export function authorityKeyIdFull(kid: Buffer, issuerOfCaDer: Buffer, caSerial: bigint): Buffer {
  const serial = integer(caSerial);
  const serialBody = serial.subarray(2 + (serial[1]! & 0x80 ? serial[1]! & 0x7f : 0));
  return extension(
    OID.authorityKeyIdentifier,
    false,
    seq(implicitPrim(0, kid), tlv(0xa1, explicit(4, issuerOfCaDer)), implicitPrim(2, serialBody)),
  );
}

export const netscapeComment = (text: string): Buffer => extension(OID.netscapeComment, false, ia5(text));
export const utf8Extension = (extOid: string, text: string): Buffer => extension(extOid, false, utf8(text));

/** A GeneralName uniformResourceIdentifier ([6] IMPLICIT IA5String). The URL must be ASCII (config checks it). */
const uriName = (url: string): Buffer => implicitPrim(6, Buffer.from(url, "latin1"));

/**
 * cRLDistributionPoints (RFC 5280 4.2.1.13): one DistributionPoint whose fullName lists the
 * URLs, no reasons, no cRLIssuer (the CA signs its own CRL). Not critical, as the RFC asks.
 */
export function crlDistributionPoints(urls: readonly string[]): Buffer {
  // distributionPoint [0] (a CHOICE, so explicit) holding fullName [0] IMPLICIT GeneralNames.
  return extension(OID.crlDistributionPoints, false, seq(seq(explicit(0, explicit(0, Buffer.concat(urls.map(uriName)))))));
}

/** authorityInfoAccess (RFC 5280 4.2.2.1): OCSP responders first, then where the issuer's certificate is. Not critical. */
export function authorityInfoAccess(ocsp: readonly string[], caIssuers: readonly string[]): Buffer {
  const access = (method: string, url: string) => seq(oid(method), uriName(url));
  return extension(OID.authorityInfoAccess, false, seq(...ocsp.map((u) => access(OID.adOcsp, u)), ...caIssuers.map((u) => access(OID.adCaIssuers, u))));
}
