/** X.509 distinguished names: building CN-only names and reading them back. */
import { children, decodeOid, decodeString, expectTag, readTlv, set, seq, oid, utf8, Tag, content, type Tlv } from "./der.js";
import { OID } from "./oids.js";

export interface Rdn {
  oid: string;
  value: string;
}

const SHORT: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "1.2.840.113549.1.9.1": "emailAddress",
};

/** A Name with one CN, UTF8String as Puppet writes it. */
export function cnName(cn: string): Buffer {
  return seq(set(seq(oid(OID.commonName), utf8(cn))));
}

export function parseName(buf: Uint8Array, nameTlv: Tlv): Rdn[] {
  expectTag(nameTlv, Tag.SEQUENCE, "Name");
  const out: Rdn[] = [];
  for (const rdnSet of children(buf, nameTlv)) {
    for (const atv of children(buf, rdnSet)) {
      const [o, v] = children(buf, atv);
      if (!o || !v) continue;
      out.push({ oid: decodeOid(content(buf, o)), value: decodeString(buf, v) });
    }
  }
  return out;
}

export function parseNameDer(der: Uint8Array): Rdn[] {
  return parseName(der, readTlv(der, 0));
}

export const commonNameOf = (rdns: Rdn[]): string | undefined => rdns.find((r) => r.oid === OID.commonName)?.value;

/** OpenSSL's one-line form, as Puppet's inventory.txt uses: "/CN=agent1.example.com". */
export function slashName(rdns: Rdn[]): string {
  return rdns.map((r) => `/${SHORT[r.oid] ?? r.oid}=${r.value}`).join("");
}

/** "CN=Puppet CA: localhost", as Puppet prints subjects and issuers. */
export function rfcName(rdns: Rdn[]): string {
  return rdns.map((r) => `${SHORT[r.oid] ?? r.oid}=${r.value}`).join(", ");
}
