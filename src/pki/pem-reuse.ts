/**
 * PEM for a DER that mostly repeats the previous one: a CRL after a revoke is the old CRL
 * with new length bytes and dates at the front, a few entries and a new signature at the
 * end, and the same 100,000 entries in between, at the same offsets. Base64 turns each
 * 48-byte line of DER into the same 64 characters wherever it sits, so the lines whose
 * bytes did not change are copied from the previous PEM instead of encoded again: at
 * 100,000 entries that is ~10 ms of base64 and line wrapping saved per revoke, replaced by
 * one memcmp. The result is exactly toPem(der, label): callers pass only a pair this code
 * produced itself (a PEM read from a file could hold characters base64 decoding skips), the
 * layout is checked anyway, and when the bytes do not line up it is toPem.
 */
import { toPem } from "./pem.js";

const LINE_BYTES = 48;
const LINE_CHARS = 65; // 64 base64 characters and "\n"
/** How far into the DER the first unchanged line may start (past the changed lengths and dates). */
const MAX_HEADER_LINES = 8;

export interface PemPair {
  der: Uint8Array;
  pem: string;
}

export function toPemReusing(der: Buffer, label: string, prev: PemPair | undefined): string {
  if (!prev || prev.der.length < LINE_BYTES * (MAX_HEADER_LINES + 2)) return toPem(der, label);
  const head = `-----BEGIN ${label}-----\n`;
  const foot = `-----END ${label}-----\n`;
  const old = Buffer.from(prev.der.buffer, prev.der.byteOffset, prev.der.length);
  const full = Math.min(Math.floor(old.length / LINE_BYTES), Math.floor(der.length / LINE_BYTES));
  const same = (line: number) => der.compare(old, line * LINE_BYTES, (line + 1) * LINE_BYTES, line * LINE_BYTES, (line + 1) * LINE_BYTES) === 0;
  let a = 0;
  while (a < MAX_HEADER_LINES && !same(a)) a++;
  let b = full;
  while (b > a && !same(b - 1)) b--;
  if (b - a < 2) return toPem(der, label);
  const start = a * LINE_BYTES;
  const end = b * LINE_BYTES;
  if (der.compare(old, start, end, start, end) !== 0) return toPem(der, label);
  if (!laidOutAsToPem(prev.pem, old.length, head, foot, a, b)) return toPem(der, label);
  const middle = prev.pem.slice(head.length + a * LINE_CHARS, head.length + b * LINE_CHARS);
  return head + wrap(der.subarray(0, start)) + middle + wrap(der.subarray(end)) + foot;
}

/** Lines of 64 base64 characters, each ending in "\n" (the last one may be shorter). */
function wrap(bytes: Buffer): string {
  const b64 = bytes.toString("base64");
  let out = "";
  for (let i = 0; i < b64.length; i += 64) out += `${b64.slice(i, i + 64)}\n`;
  return out;
}

/**
 * True when `pem` has exactly toPem's shape for a DER of `derLength` bytes, checked where
 * lines a..b are copied from: same header and footer, same length, a newline after every
 * 64 characters: a guard against a caller passing a pair that does not belong together.
 */
function laidOutAsToPem(pem: string, derLength: number, head: string, foot: string, a: number, b: number): boolean {
  const b64Length = 4 * Math.ceil(derLength / 3);
  const expected = head.length + b64Length + Math.ceil(b64Length / 64) + foot.length;
  if (pem.length !== expected || !pem.startsWith(head) || !pem.endsWith(foot)) return false;
  for (let line = a; line < b; line++) {
    if (pem.charCodeAt(head.length + line * LINE_CHARS + 64) !== 10) return false;
  }
  return true;
}
