/**
 * Extension values in words, as `openssl x509 -text` shows them: key usage and extended key usage by name, basic
 * constraints as CA:TRUE/FALSE with the path length, key identifiers and the URIs of CRL distribution points and
 * authority information access. Anything it cannot read comes back undefined, for the caller's hex.
 */
import { children, content, decodeInteger, decodeOid, readTlv, Tag } from "./der.js";
import { OID } from "./oids.js";

const KEY_USAGE = ["Digital Signature", "Non Repudiation", "Key Encipherment", "Data Encipherment", "Key Agreement", "Certificate Sign", "CRL Sign", "Encipher Only", "Decipher Only"];

const EKU: Record<string, string> = {
  [OID.serverAuth]: "TLS Web Server Authentication",
  [OID.clientAuth]: "TLS Web Client Authentication",
  "1.3.6.1.5.5.7.3.3": "Code Signing",
  "1.3.6.1.5.5.7.3.4": "E-mail Protection",
  "1.3.6.1.5.5.7.3.8": "Time Stamping",
  "1.3.6.1.5.5.7.3.9": "OCSP Signing",
};

const colonHex = (b: Uint8Array): string => Buffer.from(b).toString("hex").toUpperCase().replace(/(..)(?!$)/g, "$1:");

function keyUsage(v: Buffer): string {
  const t = readTlv(v, 0);
  if (t.tag !== Tag.BIT_STRING) throw new Error("not a BIT STRING");
  const bits = content(v, t).subarray(1);
  return KEY_USAGE.filter((_, i) => ((bits[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0).join(", ");
}

function extKeyUsage(v: Buffer): string {
  return children(v, readTlv(v, 0))
    .map((t) => decodeOid(content(v, t)))
    .map((o) => EKU[o] ?? o)
    .join(", ");
}

function basicConstraints(v: Buffer): string {
  const parts = children(v, readTlv(v, 0));
  let ca = false;
  let pathLen: bigint | undefined;
  for (const p of parts) {
    if (p.tag === Tag.BOOLEAN) ca = content(v, p)[0] !== 0;
    else if (p.tag === Tag.INTEGER) pathLen = decodeInteger(content(v, p));
  }
  return `CA:${ca ? "TRUE" : "FALSE"}${pathLen === undefined ? "" : `, pathlen:${pathLen}`}`;
}

/** The URIs ([6] IA5String) anywhere inside, in order: CRL distribution points hold them a few levels down. */
function uris(v: Buffer, start = 0, end = v.length, out: string[] = []): string[] {
  let off = start;
  while (off < end) {
    const t = readTlv(v, off, end);
    if (t.tag === 0x86) out.push(`URI:${content(v, t).toString("latin1")}`);
    else if ((t.tag & 0x20) !== 0) uris(v, t.contentStart, t.end, out);
    off = t.end;
  }
  return out;
}

function authorityInfoAccess(v: Buffer): string {
  return children(v, readTlv(v, 0))
    .map((d) => {
      const [method] = children(v, d);
      const o = decodeOid(content(v, method!));
      const label = o === OID.adOcsp ? "OCSP" : o === OID.adCaIssuers ? "CA Issuers" : o;
      return `${label} - ${uris(v, d.contentStart, d.end).join(", ")}`;
    })
    .join("; ");
}

function authorityKeyId(v: Buffer): string {
  const parts = children(v, readTlv(v, 0));
  const keyId = parts.find((p) => p.tag === 0x80);
  return keyId ? `keyid:${colonHex(content(v, keyId))}` : colonHex(v);
}

const READERS: Record<string, (v: Buffer) => string> = {
  [OID.keyUsage]: keyUsage,
  [OID.extKeyUsage]: extKeyUsage,
  [OID.basicConstraints]: basicConstraints,
  [OID.subjectKeyIdentifier]: (v) => colonHex(content(v, readTlv(v, 0))),
  [OID.authorityKeyIdentifier]: authorityKeyId,
  [OID.crlDistributionPoints]: (v) => uris(v).join(", "),
  [OID.authorityInfoAccess]: authorityInfoAccess,
  "1.3.6.1.5.5.7.48.1.5": () => "present (OCSP No Check)",
};

/** The value in words, or undefined when the extension is not one of these or its DER is not as expected. */
export function extensionValueText(oid: string, value: Buffer): string | undefined {
  const read = READERS[oid];
  if (!read) return undefined;
  try {
    return read(value);
  } catch {
    return undefined;
  }
}
