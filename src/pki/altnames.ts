/** subjectAltName: GeneralNames written from and read into Puppet's "DNS:x", "IP:1.2.3.4" strings. */
import net from "node:net";
import { children, content, implicitPrim, readTlv, seq } from "./der.js";

export class AltNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AltNameError";
  }
}

function ipBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (net.isIPv6(ip)) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) is two 16-bit groups.
    const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
    if (v4) {
      const b4 = ipBytes(v4[2]!);
      ip = `${v4[1]}${b4.readUInt16BE(0).toString(16)}:${b4.readUInt16BE(2).toString(16)}`;
    }
    const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || "0", 16), i * 2));
    return b;
  }
  throw new AltNameError(`"${ip}" is not an IP address`);
}

function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join(".");
  if (b.length === 16) {
    const g: string[] = [];
    for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16).toUpperCase());
    return g.join(":");
  }
  return b.toString("hex");
}

/** Encodes ["DNS:a", "IP:10.0.0.1", "email:x@y"] (a bare name means DNS) as GeneralNames. */
export function encodeAltNames(names: string[]): Buffer {
  const parts = names.map((n) => {
    const i = n.indexOf(":");
    const kind = i > 0 ? n.slice(0, i) : "DNS";
    const value = i > 0 ? n.slice(i + 1) : n;
    switch (kind.toUpperCase()) {
      case "DNS":
        return implicitPrim(2, Buffer.from(value, "latin1"));
      case "IP":
        return implicitPrim(7, ipBytes(value));
      case "EMAIL":
        return implicitPrim(1, Buffer.from(value, "latin1"));
      case "URI":
        return implicitPrim(6, Buffer.from(value, "latin1"));
      default:
        throw new AltNameError(`unsupported alt name type "${kind}" in "${n}"; use DNS:, IP:, email: or URI:`);
    }
  });
  return seq(...parts);
}

/** Decodes GeneralNames into Puppet's strings; unknown kinds are shown by tag number. */
export function decodeAltNames(der: Uint8Array): string[] {
  const top = readTlv(der, 0);
  return children(der, top).map((t) => {
    const v = content(der, t);
    switch (t.tag) {
      case 0x82:
        return `DNS:${v.toString("latin1")}`;
      case 0x87:
        return `IP:${ipString(v)}`;
      case 0x81:
        return `email:${v.toString("latin1")}`;
      case 0x86:
        return `URI:${v.toString("latin1")}`;
      default:
        // Kept visible in listings, and refused by encodeAltNames, so it is never re-issued as DNS.
        return `othername:[${t.tag & 0x1f}]`;
    }
  });
}
