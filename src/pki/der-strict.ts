/**
 * Strict DER: what a value copied from a request into a certificate must be. The reader in
 * der.ts is lenient on purpose (it reads what others wrote); anything fleetca signs must also
 * be readable by OpenSSL and every other relying party, so bytes that come from a submitter
 * (a CSR's extensions) are checked here first: one TLV, definite minimal lengths, constructed
 * children that fill their parent exactly, and the universal types X.509 uses in their DER form
 * (a BOOLEAN of one byte 00 or FF, OIDs without 0x80 padding, minimal INTEGERs...).
 */
import { DerError, readTlv } from "./der.js";

const MAX_DEPTH = 32;

/** Throws DerError naming the first rule `buf` breaks; `what` says where it came from. */
export function assertStrictDer(buf: Uint8Array, what: string): void {
  try {
    const end = checkTlv(buf, 0, buf.length, 0);
    if (end !== buf.length) throw new DerError(`${buf.length - end} bytes after the value`);
  } catch (e) {
    if (e instanceof DerError) throw new DerError(`${what} is not DER: ${e.message}`);
    throw e;
  }
}

/** Checks one TLV at `off` within `limit`; returns its end. */
function checkTlv(buf: Uint8Array, off: number, limit: number, depth: number): number {
  if (depth > MAX_DEPTH) throw new DerError(`nested more than ${MAX_DEPTH} levels`);
  const t = readTlv(buf, off, limit);
  checkLength(buf, off, t.contentStart, t.end - t.contentStart);
  const tag = t.tag;
  if (tag === 0) throw new DerError("an end-of-contents marker (indefinite length is BER, not DER)");
  const constructed = (tag & 0x20) !== 0;
  const universal = (tag & 0xc0) === 0;
  const c = buf.subarray(t.contentStart, t.end);
  if (constructed) {
    // Universal constructed forms other than SEQUENCE and SET are BER's segmented strings.
    if (universal && tag !== 0x30 && tag !== 0x31) throw new DerError(`a constructed universal type 0x${tag.toString(16)} (BER only)`);
    let p = t.contentStart;
    while (p < t.end) p = checkTlv(buf, p, t.end, depth + 1);
    return t.end;
  }
  if (!universal) return t.end;
  switch (tag) {
    case 0x01:
      if (c.length !== 1 || (c[0] !== 0x00 && c[0] !== 0xff)) throw new DerError("a BOOLEAN must be one byte, 00 or FF");
      break;
    case 0x02:
    case 0x0a:
      if (c.length === 0) throw new DerError("an empty INTEGER");
      if (c.length > 1 && ((c[0] === 0x00 && !(c[1]! & 0x80)) || (c[0] === 0xff && c[1]! & 0x80))) throw new DerError("an INTEGER with a redundant leading byte");
      break;
    case 0x03:
      if (c.length === 0 || c[0]! > 7 || (c.length === 1 && c[0] !== 0)) throw new DerError("a BIT STRING with a bad unused-bits count");
      break;
    case 0x05:
      if (c.length !== 0) throw new DerError("a NULL with content");
      break;
    case 0x06:
      checkOid(c);
      break;
    case 0x0c:
      if (!Buffer.from(Buffer.from(c).toString("utf8"), "utf8").equals(c)) throw new DerError("a UTF8String that is not UTF-8");
      break;
  }
  return t.end;
}

/** The length octets must be the shortest form (readTlv accepts padded long forms). */
function checkLength(buf: Uint8Array, off: number, contentStart: number, len: number): void {
  const octets = contentStart - off - 1;
  if (octets === 1) return;
  if (len < 0x80) throw new DerError("a long-form length for a short value");
  if (buf[off + 2] === 0) throw new DerError("a length with a leading zero byte");
}

function checkOid(c: Uint8Array): void {
  if (c.length === 0) throw new DerError("an empty OBJECT IDENTIFIER");
  if (c[c.length - 1]! & 0x80) throw new DerError("an OBJECT IDENTIFIER cut inside a sub-identifier");
  let startOfSub = true;
  for (const b of c) {
    if (startOfSub && b === 0x80) throw new DerError("an OBJECT IDENTIFIER sub-identifier padded with 0x80");
    startOfSub = (b & 0x80) === 0;
  }
}
