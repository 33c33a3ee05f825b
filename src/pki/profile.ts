/**
 * The certificate profile of Puppet Server's CA (reference/puppetserver-ca.md section 3),
 * extension by extension and in Puppet's order, so that tools comparing the two see the same thing.
 */
import {
  authorityInfoAccess, authorityKeyIdFull, authorityKeyIdOnly, basicConstraints, crlDistributionPoints, extKeyUsageServerClient, extension, keyIdentifier, keyUsage,
  netscapeComment, subjectKeyId, utf8Extension, type Extension,
} from "./extensions.js";
import { encodeAltNames } from "./altnames.js";
import { bitString, nullValue, oid, seq } from "./der.js";
import { OCSP_OID } from "./ocsp.js";
import { OID, PP_CLI_AUTH } from "./oids.js";

/** Puppet writes this comment into every certificate its CA issues; tools look for it. */
export const NETSCAPE_COMMENT = "Puppet Server Internal Certificate";

export function caExtensions(caSpki: Buffer): Buffer[] {
  const kid = keyIdentifier(caSpki);
  return [netscapeComment(NETSCAPE_COMMENT), authorityKeyIdOnly(kid), subjectKeyId(kid), basicConstraints(true), keyUsage(true)];
}

export interface LeafProfileInput {
  commonName: string;
  spki: Buffer;
  /** SAN entries requested ("DNS:x", "IP:…"); DNS:<commonName> is added when missing. */
  altNames: string[];
  /** Extensions from the CSR that policy allowed, copied verbatim in CSR order. */
  copied: Extension[];
  caSpki: Buffer;
  /** The issuer Name of the CA certificate and its serial, for the AKI DirName form. */
  caIssuerDer: Buffer;
  caSerial: bigint;
  /** Adds pp_cli_auth=true (the CA server's own certificate: admin rights on the API). */
  cliAuth?: boolean;
  /** Where to ask (settings crl_url, ocsp_url, ca_issuers_url); none by default, as in Puppet. */
  where?: WhereToAsk;
}

/** URLs a certificate names for its revocation status and its issuer; empty strings are left out. */
export interface WhereToAsk {
  crlUrl?: string;
  ocspUrl?: string;
  caIssuersUrl?: string;
}

/** Puppet's SAN order: non-DNS entries first, then DNS in request order, DNS:<cn> appended if absent. */
export function orderAltNames(commonName: string, names: string[]): string[] {
  const dns = names.filter((n) => n.startsWith("DNS:"));
  const other = names.filter((n) => !n.startsWith("DNS:"));
  const withCn = dns.includes(`DNS:${commonName}`) ? dns : [...dns, `DNS:${commonName}`];
  return [...other, ...withCn];
}

/** The CA's authorityKeyIdentifier, the same for every certificate it issues: made (a SHA-1 and its DER) once per CA, not per certificate. */
let lastCaKeyId: { spki: Buffer; issuer: Buffer; serial: bigint; der: Buffer } | undefined;

function caKeyIdOf(spki: Buffer, issuer: Buffer, serial: bigint): Buffer {
  const c = lastCaKeyId;
  if (c && c.serial === serial && c.spki.equals(spki) && c.issuer.equals(issuer)) return c.der;
  const der = authorityKeyIdFull(keyIdentifier(spki), issuer, serial);
  lastCaKeyId = { spki: Buffer.from(spki), issuer: Buffer.from(issuer), serial, der };
  return der;
}

export function leafExtensions(p: LeafProfileInput): Buffer[] {
  const exts = [
    extension(OID.subjectAltName, false, encodeAltNames(orderAltNames(p.commonName, p.altNames))),
    netscapeComment(NETSCAPE_COMMENT),
    caKeyIdOf(p.caSpki, p.caIssuerDer, p.caSerial),
    subjectKeyId(keyIdentifier(p.spki)),
    ...p.copied.map((e) => e.der),
  ];
  if (p.cliAuth) exts.push(utf8Extension(PP_CLI_AUTH, "true"));
  exts.push(basicConstraints(false), extKeyUsageServerClient(), keyUsage(false));
  // After Puppet's own extensions, so a certificate without these settings is byte for byte Puppet's profile.
  const w = p.where ?? {};
  if (w.crlUrl) exts.push(crlDistributionPoints([w.crlUrl]));
  if (w.ocspUrl || w.caIssuersUrl) exts.push(authorityInfoAccess(w.ocspUrl ? [w.ocspUrl] : [], w.caIssuersUrl ? [w.caIssuersUrl] : []));
  return exts;
}

/** What a delegated OCSP responder certificate needs from its CA. */
export interface OcspResponderProfileInput {
  spki: Buffer;
  caSpki: Buffer;
  caIssuerDer: Buffer;
  caSerial: bigint;
}

/**
 * A delegated OCSP responder (RFC 6960 4.2.2.2): id-kp-OCSPSigning as its only (critical)
 * extended key usage, so it is no TLS client or server certificate, digitalSignature only,
 * and id-pkix-ocsp-nocheck (clients do not ask about its own status; its short life is the
 * remedy). No subjectAltName and never pp_cli_auth.
 */
export function ocspResponderExtensions(p: OcspResponderProfileInput): Buffer[] {
  return [
    authorityKeyIdFull(keyIdentifier(p.caSpki), p.caIssuerDer, p.caSerial),
    subjectKeyId(keyIdentifier(p.spki)),
    basicConstraints(false),
    extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
    extension(OID.extKeyUsage, true, seq(oid(OCSP_OID.ocspSigning))),
    extension(OCSP_OID.noCheck, false, nullValue()),
  ];
}
