/**
 * Certificates and requests in words (for `ca print` and `agent show`), laid out like `openssl x509 -text`: key
 * usage and EKU by name, basic constraints, SANs, and Puppet's extensions by their short names.
 */
import { createPublicKey } from "node:crypto";
import type { ParsedCertificate } from "./certificate.js";
import type { ParsedCsr } from "./csr.js";
import { extensionText, type Extension } from "./extensions.js";
import { extensionValueText } from "./extension-values.js";
import { fingerprint } from "./fingerprint.js";
import { rfcName } from "./name.js";
import { OID, shortNameOf } from "./oids.js";

const KNOWN: Record<string, string> = {
  [OID.subjectAltName]: "Subject Alternative Name",
  [OID.netscapeComment]: "Netscape Comment",
  [OID.authorityKeyIdentifier]: "Authority Key Identifier",
  [OID.subjectKeyIdentifier]: "Subject Key Identifier",
  [OID.basicConstraints]: "Basic Constraints",
  [OID.extKeyUsage]: "Extended Key Usage",
  [OID.keyUsage]: "Key Usage",
  [OID.crlDistributionPoints]: "CRL Distribution Points",
  [OID.authorityInfoAccess]: "Authority Information Access",
  "1.3.6.1.5.5.7.48.1.5": "OCSP No Check",
};

const SIGNATURES: Record<string, string> = {
  [OID.sha256WithRSA]: "sha256WithRSAEncryption",
  [OID.sha384WithRSA]: "sha384WithRSAEncryption",
  [OID.sha512WithRSA]: "sha512WithRSAEncryption",
  [OID.sha1WithRSA]: "sha1WithRSAEncryption",
  [OID.rsaPss]: "rsassaPss",
  [OID.ecdsaSha256]: "ecdsa-with-SHA256",
  [OID.ecdsaSha384]: "ecdsa-with-SHA384",
  [OID.ecdsaSha512]: "ecdsa-with-SHA512",
  [OID.ed25519]: "ED25519",
};

const hexSerial = (s: bigint): string => {
  const h = s.toString(16).toUpperCase();
  return h.length % 2 ? `0${h}` : h;
};

/** "RSA (4096 bit)", "EC (P-256)". */
export function publicKeyText(spki: Buffer): string {
  try {
    const key = createPublicKey({ key: spki, format: "der", type: "spki" });
    const d = key.asymmetricKeyDetails ?? {};
    if (key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss") return `RSA (${d.modulusLength} bit)`;
    if (key.asymmetricKeyType === "ec") return `EC (${d.namedCurve === "prime256v1" ? "P-256" : d.namedCurve === "secp384r1" ? "P-384" : d.namedCurve})`;
    return String(key.asymmetricKeyType).toUpperCase();
  } catch {
    return "unreadable";
  }
}

function extensionLines(extensions: readonly Extension[], altNames: readonly string[]): string[] {
  const lines: string[] = [];
  for (const e of extensions) {
    const short = shortNameOf(e.oid);
    const label = KNOWN[e.oid] ?? (short ? `${short} (${e.oid})` : e.oid);
    let value: string;
    if (e.oid === OID.subjectAltName) value = altNames.join(", ");
    else if (short || e.oid === OID.netscapeComment) value = extensionText(e.value).trim();
    else value = extensionValueText(e.oid, e.value) ?? e.value.toString("hex").toUpperCase().replace(/(..)(?!$)/g, "$1:");
    lines.push(`        ${label}${e.critical ? " (critical)" : ""}:`, `            ${value}`);
  }
  return lines;
}

export function describeCertificate(c: ParsedCertificate): string[] {
  return [
    `Certificate:`,
    `    Serial Number: ${c.serial} (0x${hexSerial(c.serial)})`,
    `    Signature Algorithm: ${SIGNATURES[c.signatureOid] ?? c.signatureOid}`,
    `    Issuer: ${rfcName(c.issuer)}`,
    `    Validity`,
    `        Not Before: ${c.notBefore.toISOString()}`,
    `        Not After : ${c.notAfter.toISOString()}`,
    `    Subject: ${rfcName(c.subject)}`,
    `    Public Key: ${publicKeyText(c.spki)}`,
    `    Fingerprint (SHA256): ${fingerprint(c.der)}`,
    `    Extensions:`,
    ...extensionLines(c.extensions, c.altNames),
  ];
}

/** A pending request: subject, key, the extensions it asks for, its other attributes. */
export function describeRequest(r: ParsedCsr): string[] {
  const lines = [
    `Certificate Request:`,
    `    Subject: ${rfcName(r.subject)}`,
    `    Signature Algorithm: ${SIGNATURES[r.signatureOid] ?? r.signatureOid}`,
    `    Public Key: ${publicKeyText(r.spki)}`,
    `    Fingerprint (SHA256): ${fingerprint(r.der)}`,
    `    Requested Extensions:`,
    ...extensionLines(r.extensions, r.altNames),
  ];
  if (r.attributes.length > 0) {
    lines.push(`    Attributes:`);
    for (const a of r.attributes) lines.push(`        ${shortNameOf(a.oid) ?? (a.oid === OID.challengePassword ? "challengePassword" : a.oid)}: ${a.value}`);
  }
  return lines;
}
