/**
 * A small DER reader and writer. It is the issuing hot path: the full-featured X.509
 * libraries cost ~7 ms of JavaScript per certificate (reference/libraries.md), more than
 * the RSA signature itself. Every structure built from these pieces is checked by
 * `openssl` in the tests.
 */

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8: 0x0c,
  PRINTABLE: 0x13,
  T61: 0x14,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

/** One parsed TLV: offsets into the buffer it was read from (no copies). */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset one past the last content byte. */
  end: number;
}

export function readTlv(buf: Uint8Array, off: number, limit = buf.length): Tlv {
  if (off + 2 > limit) throw new DerError("truncated DER: no room for tag and length");
  const tag = buf[off]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte DER tags are not supported");
  let len = buf[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError("unsupported DER length encoding");
    if (p + n > limit) throw new DerError("truncated DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new DerError("truncated DER: content runs past the end");
  return { tag, start: off, contentStart: p, end: p + len };
}

/** The children of a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`missing ${what}`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

export function slice(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.start, t.end - t.start);
}

export function content(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.contentStart, t.end - t.contentStart);
}

export function decodeOid(bytes: Uint8Array): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

export function decodeInteger(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  if (bytes[0]! & 0x80) v -= 1n << BigInt(bytes.length * 8);
  return v;
}

/** Decodes the string types X.509 names and attributes use. */
export function decodeString(buf: Uint8Array, t: Tlv): string {
  const c = content(buf, t);
  if (t.tag === Tag.BMP) {
    let s = "";
    for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode((c[i]! << 8) | c[i + 1]!);
    return s;
  }
  return t.tag === Tag.UTF8 ? c.toString("utf8") : c.toString("latin1");
}

export function decodeTime(buf: Uint8Array, t: Tlv): Date {
  const s = content(buf, t).toString("latin1");
  const m =
    t.tag === Tag.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new DerError(`unsupported time encoding "${s}"`);
  let year = Number(m[1]);
  if (t.tag === Tag.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

// ---------------------------------------------------------------- writer

function lengthBytes(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** The tag and length in front of `len` bytes of content, for writing a TLV piece by piece. */
export function tlvHeader(tag: number, len: number): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(len)]);
}

/** One TLV from a tag and its content. */
export function tlv(tag: number, body: Uint8Array | Uint8Array[]): Buffer {
  const parts = Array.isArray(body) ? body : [body];
  let len = 0;
  for (const p of parts) len += p.length;
  return Buffer.concat([Buffer.from([tag]), lengthBytes(len), ...parts]);
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(Tag.SEQUENCE, parts);
export const set = (...parts: Uint8Array[]): Buffer => tlv(Tag.SET, parts);
/** [n] EXPLICIT wrapper. */
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT primitive. */
export const implicitPrim = (n: number, body: Uint8Array): Buffer => tlv(0x80 | n, body);
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const bool = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const octets = (b: Uint8Array): Buffer => tlv(Tag.OCTET_STRING, b);
export const utf8 = (s: string): Buffer => tlv(Tag.UTF8, Buffer.from(s, "utf8"));
export const ia5 = (s: string): Buffer => tlv(Tag.IA5, Buffer.from(s, "latin1"));
export const printable = (s: string): Buffer => tlv(Tag.PRINTABLE, Buffer.from(s, "latin1"));
export const bitString = (b: Uint8Array, unused = 0): Buffer => tlv(Tag.BIT_STRING, [Buffer.from([unused]), b]);

export function integer(v: bigint | number): Buffer {
  let n = BigInt(v);
  if (n < 0n) throw new DerError("negative integers are not written by fleetca");
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (n > 0n);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(Tag.INTEGER, Buffer.from(bytes));
}

/** INTEGER from unsigned big-endian bytes (a public key modulus, a random serial). */
export function integerFromBytes(b: Uint8Array): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const trimmed = b.subarray(i);
  return tlv(Tag.INTEGER, trimmed[0]! & 0x80 ? [Buffer.from([0]), trimmed] : trimmed);
}

const oidCache = new Map<string, Buffer>();

export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split(".").map((x) => {
    if (!/^\d+$/.test(x)) throw new DerError(`invalid OID "${dotted}"`);
    return Number(x);
  });
  if (arcs.length < 2) throw new DerError(`invalid OID "${dotted}"`);
  const out: number[] = [];
  const push = (v: number) => {
    const tmp = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) tmp.unshift((v & 0x7f) | 0x80);
    out.push(...tmp);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  const enc = tlv(Tag.OID, Buffer.from(out));
  oidCache.set(dotted, enc);
  return enc;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. Seconds precision. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(pad(y % 100) + rest, "latin1"));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(pad(y, 4) + rest, "latin1"));
}
