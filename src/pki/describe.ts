/** A human-readable description of a certificate (for `print` and `agent show`), with Puppet short names. */
import type { ParsedCertificate } from "./certificate.js";
import { extensionText } from "./extensions.js";
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
};

const hexSerial = (s: bigint): string => {
  const h = s.toString(16).toUpperCase();
  return h.length % 2 ? `0${h}` : h;
};

export function describeCertificate(c: ParsedCertificate): string[] {
  const lines = [
    `Certificate:`,
    `    Serial Number: ${c.serial} (0x${hexSerial(c.serial)})`,
    `    Issuer: ${rfcName(c.issuer)}`,
    `    Validity`,
    `        Not Before: ${c.notBefore.toISOString()}`,
    `        Not After : ${c.notAfter.toISOString()}`,
    `    Subject: ${rfcName(c.subject)}`,
    `    Fingerprint (SHA256): ${fingerprint(c.der)}`,
    `    Extensions:`,
  ];
  for (const e of c.extensions) {
    const short = shortNameOf(e.oid);
    const label = KNOWN[e.oid] ?? (short ? `${short} (${e.oid})` : e.oid);
    let value: string;
    if (e.oid === OID.subjectAltName) value = c.altNames.join(", ");
    else if (short || e.oid === OID.netscapeComment) value = extensionText(e.value).trim();
    else value = e.value.toString("hex").toUpperCase().replace(/(..)(?!$)/g, "$1:");
    lines.push(`        ${label}${e.critical ? " (critical)" : ""}:`, `            ${value}`);
  }
  return lines;
}
