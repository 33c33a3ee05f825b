/**
 * PEM for a DER that mostly repeats the previous one: a CRL after a revoke is the old CRL
 * with new length bytes and dates at the front, a few entries and a new signature at the
 * end, and the same 100,000 entries in between, at the same offsets. Base64 turns each
 * 48-byte line of DER into the same 64 characters wherever it sits, so the lines whose
 * bytes did not change are copied from the previous PEM instead of encoded again: at
 * 100,000 entries that is ~10 ms of base64 and line wrapping saved per revoke, replaced by
 * one memcmp and one memcpy. The result is exactly toPem(der, label): callers pass only a
 * pair this code produced itself (a PEM read from a file could hold characters base64
 * decoding skips), the layout is checked anyway, and when the bytes do not line up the
 * lines are encoded afresh. PEM is handled as bytes: 5 MB strings built from pieces cost
 * more to flatten and convert than the encoding saved.
 */
export const LINE_BYTES = 48;
/** 64 base64 characters and "\n". */
export const LINE_CHARS = 65;
/** How far past `from` the first unchanged line may start (past the changed lengths and dates). */
const MAX_HEADER_LINES = 8;

/** A DER and its PEM, as bytes. */
export interface PemPair {
  der: Uint8Array;
  pem: Buffer;
}

export const pemHead = (label: string): Buffer => Buffer.from(`-----BEGIN ${label}-----\n`, "latin1");
export const pemFoot = (label: string): Buffer => Buffer.from(`-----END ${label}-----\n`, "latin1");

/** How many PEM lines a DER of `length` bytes takes. */
export const pemLineCount = (length: number): number => Math.ceil(length / LINE_BYTES);

/** toPem(der, label) as bytes, copying what it can from `prev`. */
export function toPemReusing(der: Buffer, label: string, prev: PemPair | undefined): Buffer {
  return Buffer.concat([pemHead(label), pemLines(der, label, 0, pemLineCount(der.length), prev), pemFoot(label)]);
}

/**
 * Lines [from, to) of toPem(der, label) without its header, each ending in "\n". Only the
 * DER bytes those lines cover are read, so `der` may be a prefix of the final DER, or hold
 * placeholders before line `from`.
 */
export function pemLines(der: Buffer, label: string, from: number, to: number, prev?: PemPair): Buffer {
  const reuse = prev ? reusable(der, label, from, to, prev) : undefined;
  if (!reuse) return encodeLines(der, from, to);
  const head = pemHead(label).length;
  const copied = prev!.pem.subarray(head + reuse.a * LINE_CHARS, head + reuse.b * LINE_CHARS);
  return Buffer.concat([encodeLines(der, from, reuse.a), copied, encodeLines(der, reuse.b, to)]);
}

/** The run of lines [a, b) within [from, to) whose bytes are the same in `prev`, if it is worth copying. */
function reusable(der: Buffer, label: string, from: number, to: number, prev: PemPair): { a: number; b: number } | undefined {
  const old = Buffer.from(prev.der.buffer, prev.der.byteOffset, prev.der.length);
  const full = Math.min(Math.floor(old.length / LINE_BYTES), Math.floor(der.length / LINE_BYTES), to);
  const same = (line: number) => der.compare(old, line * LINE_BYTES, (line + 1) * LINE_BYTES, line * LINE_BYTES, (line + 1) * LINE_BYTES) === 0;
  let a = from;
  while (a < Math.min(from + MAX_HEADER_LINES, full) && !same(a)) a++;
  let b = full;
  while (b > a && !same(b - 1)) b--;
  if (b - a < 2) return undefined;
  const start = a * LINE_BYTES;
  const end = b * LINE_BYTES;
  if (der.compare(old, start, end, start, end) !== 0) return undefined;
  if (!laidOutAsToPem(prev.pem, old.length, label, a, b)) return undefined;
  return { a, b };
}

/** Lines [from, to) of the DER's base64, 64 characters each, each ending in "\n" (the last one may be shorter). */
function encodeLines(der: Buffer, from: number, to: number): Buffer {
  if (to <= from) return Buffer.alloc(0);
  const b64 = Buffer.from(der.toString("base64", from * LINE_BYTES, Math.min(der.length, to * LINE_BYTES)), "latin1");
  const out = Buffer.allocUnsafe(b64.length + Math.ceil(b64.length / 64));
  let o = 0;
  for (let i = 0; i < b64.length; i += 64) {
    o += b64.copy(out, o, i, Math.min(i + 64, b64.length));
    out[o++] = 10;
  }
  return out;
}

/**
 * True when `pem` has exactly toPem's shape for a DER of `derLength` bytes, checked where
 * lines a..b are copied from: same header and footer, same length, a newline after every
 * 64 characters: a guard against a caller passing a pair that does not belong together.
 */
function laidOutAsToPem(pem: Buffer, derLength: number, label: string, a: number, b: number): boolean {
  const head = pemHead(label);
  const foot = pemFoot(label);
  const b64Length = 4 * Math.ceil(derLength / 3);
  const expected = head.length + b64Length + Math.ceil(b64Length / 64) + foot.length;
  if (pem.length !== expected || !pem.subarray(0, head.length).equals(head) || !pem.subarray(pem.length - foot.length).equals(foot)) return false;
  for (let line = a; line < b; line++) {
    if (pem[head.length + line * LINE_CHARS + 64] !== 10) return false;
  }
  return true;
}
