/**
 * Certificate revocation lists that stay cheap at 100,000 entries: the revokedCertificates
 * entries are kept as one encoded blob; revoking appends a few bytes and signs once, with
 * no per-entry work in JavaScript (DESIGN.md, "Performance shape").
 */
import type { KeyObject } from "node:crypto";
import {
  bitString, children, content, decodeInteger, decodeOid, decodeTime, DerError, explicit, expectTag, integer,
  readTlv, seq, slice, Tag, time, tlv, tlvHeader, type Tlv,
} from "./der.js";
import { authorityKeyIdOnly, extension } from "./extensions.js";
import { signAsync, signatureSchemeFor, type SignatureScheme } from "./keys.js";
import { OID } from "./oids.js";
import { fromPem, toPem } from "./pem.js";

export interface CrlState {
  issuer: Buffer;
  authorityKeyId: Buffer;
  crlNumber: bigint;
  /** The encoded revokedCertificates entries, concatenated, in revocation order. */
  entries: Buffer;
  /** Serials already listed, so a second revoke is a no-op, as in Puppet. */
  serials: ReadonlySet<bigint>;
  thisUpdate: Date;
  nextUpdate: Date;
}

/** The crlEntryExtensions for each RFC 5280 reason code, encoded once (Puppet always uses keyCompromise, 1). */
const REASON_EXTENSIONS = new Map<number, Buffer>();
function reasonExtensions(code: number): Buffer {
  let ext = REASON_EXTENSIONS.get(code);
  if (!ext) {
    if (!Number.isInteger(code) || code < 0 || code > 10 || code === 7) throw new RangeError(`${code} is not an RFC 5280 CRLReason code`);
    ext = seq(extension(OID.crlReason, false, tlv(Tag.ENUMERATED, Buffer.from([code]))));
    REASON_EXTENSIONS.set(code, ext);
  }
  return ext;
}

/** One revokedCertificates entry; `reasonCode` defaults to keyCompromise (1), as Puppet revokes. */
export function revokedEntry(serial: bigint, when: Date, reasonCode = 1): Buffer {
  // RFC 5280 5.3.1: "unspecified" (0) should be left out rather than encoded.
  if (reasonCode === 0) return seq(integer(serial), time(when));
  return seq(integer(serial), time(when), reasonExtensions(reasonCode));
}

export function emptyCrlState(issuer: Buffer, authorityKeyId: Buffer, now: Date, nextUpdate: Date): CrlState {
  return { issuer, authorityKeyId, crlNumber: 0n, entries: Buffer.alloc(0), serials: new Set(), thisUpdate: now, nextUpdate };
}

/** Signs the CRL for the state. Cost: one signature plus a copy of the entry bytes. */
export async function signCrl(state: CrlState, caKey: KeyObject): Promise<Buffer> {
  const draft = draftCrl(state, caKey);
  return draft.finish(await signAsync(draft.tbs, caKey, draft.scheme));
}

/** A CRL laid out in its final buffer before it is signed. */
export interface CrlDraft {
  /** The whole CRL; its last `signatureLength` bytes await the signature. */
  der: Buffer;
  /** The TBSCertList inside `der`: what gets signed. */
  tbs: Buffer;
  scheme: SignatureScheme;
  /** The signed CRL: `der` itself when the signature has the expected length, else a new buffer. */
  finish(signature: Buffer): Buffer;
}

/**
 * Lays the CRL out in one buffer, with room for a signature of the key's usual length:
 * at 100,000 entries every 3.9 MB copy (the TBS, then the whole CRL around it) is also
 * garbage to collect, and the collections cost more than the copies.
 */
export function draftCrl(state: CrlState, caKey: KeyObject): CrlDraft {
  const scheme = signatureSchemeFor(caKey);
  const signatureLength = expectedSignatureLength(caKey);
  const head = [integer(1), scheme.algorithmDer, state.issuer, time(state.thisUpdate), time(state.nextUpdate)];
  if (state.entries.length > 0) head.push(tlvHeader(Tag.SEQUENCE, state.entries.length));
  const exts = explicit(0, seq(authorityKeyIdOnly(state.authorityKeyId), extension(OID.crlNumber, false, integer(state.crlNumber))));
  const tbsContent = sum(head) + state.entries.length + exts.length;
  const tbsHeader = tlvHeader(Tag.SEQUENCE, tbsContent);
  const bits = 1 + signatureLength; // the BIT STRING's unused-bits byte, then the signature
  const tail = [scheme.algorithmDer, tlvHeader(Tag.BIT_STRING, bits), Buffer.from([0])];
  const outer = tlvHeader(Tag.SEQUENCE, tbsHeader.length + tbsContent + sum(tail) + signatureLength);
  const der = Buffer.allocUnsafe(outer.length + tbsHeader.length + tbsContent + sum(tail) + signatureLength);
  let at = 0;
  for (const piece of [outer, tbsHeader, ...head, state.entries, exts, ...tail]) at += piece.copy(der, at);
  const tbs = der.subarray(outer.length, outer.length + tbsHeader.length + tbsContent);
  return {
    der,
    tbs,
    scheme,
    finish: (signature) => {
      if (signature.length !== signatureLength) return seq(tbs, scheme.algorithmDer, bitString(signature));
      signature.copy(der, at);
      return der;
    },
  };
}

/** The signature's length in bytes: exact for RSA; for ECDSA the longest DER it takes, which it often does not. */
function expectedSignatureLength(key: KeyObject): number {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "rsa" && d?.modulusLength) return Math.ceil(d.modulusLength / 8);
  if (key.asymmetricKeyType === "ed25519") return 64;
  const fieldBytes = d?.namedCurve === "secp384r1" ? 48 : 32;
  return 2 * (fieldBytes + 3) + 2;
}

function sum(pieces: Uint8Array[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

export interface RevocationRequest {
  serial: bigint;
  when: Date;
  /** RFC 5280 CRLReason code; keyCompromise (1) when absent. */
  reasonCode?: number;
}

/**
 * A new state with the serials appended (those already listed are skipped). The CRL number
 * goes up by one per call that adds something, as Puppet counts it.
 */
export function withRevocations(state: CrlState, revs: RevocationRequest[], now: Date, nextUpdate: Date): CrlState {
  const fresh = revs.filter((r) => !state.serials.has(r.serial));
  if (fresh.length === 0) return state;
  const serials = SerialSet.with(state.serials, fresh.map((r) => r.serial));
  return {
    ...state,
    crlNumber: state.crlNumber + 1n,
    entries: appendEntries(state.entries, fresh.map((r) => revokedEntry(r.serial, r.when, r.reasonCode))),
    serials,
    thisUpdate: now,
    nextUpdate,
  };
}

/**
 * The same entries signed again: the CRL number up by one (every CRL fleetca signs has a
 * higher number than the last), new dates. For a CRL whose nextUpdate draws near with
 * nothing new to list (crl_ttl).
 */
export function resignedState(state: CrlState, now: Date, nextUpdate: Date): CrlState {
  return { ...state, crlNumber: state.crlNumber + 1n, thisUpdate: now, nextUpdate };
}

/** The entries a state lists, in order, with their dates and reasons. */
export function stateEntries(state: CrlState): CrlEntry[] {
  return crlEntriesIn(state.entries, 0, state.entries.length);
}

/**
 * A new state without the entries whose serial is in `drop` (a prune), the CRL number up by
 * one. The kept entries are copied byte for byte, in their order, in runs between the
 * dropped ones: nothing is decoded but each entry's serial.
 */
export function withoutSerials(state: CrlState, drop: ReadonlySet<bigint>, now: Date, nextUpdate: Date): CrlState {
  const src = state.entries;
  const runs: [number, number][] = [];
  const serials = new Set<bigint>();
  let runStart = 0;
  let size = 0;
  for (let p = 0; p < src.length; ) {
    const e = readTlv(src, p);
    const serial = decodeInteger(content(src, readTlv(src, e.contentStart, e.end)));
    if (drop.has(serial)) {
      if (p > runStart) runs.push([runStart, p]);
      size += p - runStart;
      runStart = e.end;
    } else serials.add(serial);
    p = e.end;
  }
  if (src.length > runStart) runs.push([runStart, src.length]);
  size += src.length - runStart;
  // A buffer of its own (not Buffer.concat's shared pool): the next revoke appends after it.
  const entries = Buffer.alloc(size);
  let at = 0;
  for (const [a, b] of runs) at += src.copy(entries, at, a, b);
  return { ...state, crlNumber: state.crlNumber + 1n, entries, serials, thisUpdate: now, nextUpdate };
}

/** How far each entries buffer has been written: appending in place is safe only at its end. */
const entriesEnd = new WeakMap<ArrayBufferLike, number>();

/**
 * `entries` followed by `added`, written into spare room after `entries` when it has some
 * and nobody wrote there yet, else into a new buffer with room to grow: a revoke at 100,000
 * entries then copies nothing, where a fresh 3.9 MB buffer per revoke was garbage the
 * collector had to chase. Earlier states keep their own, shorter, unchanged view.
 */
function appendEntries(entries: Buffer, added: Buffer[]): Buffer {
  let size = 0;
  for (const a of added) size += a.length;
  const start = entries.byteOffset + entries.length;
  const ours = entriesEnd.get(entries.buffer) === start;
  let target: Buffer;
  let at: number;
  if (ours && entries.buffer.byteLength - start >= size) {
    target = Buffer.from(entries.buffer, entries.byteOffset, entries.length + size);
    at = entries.length;
  } else {
    const room = Buffer.alloc(Math.max(64 * 1024, 2 * (entries.length + size)));
    entries.copy(room, 0);
    target = room.subarray(0, entries.length + size);
    at = entries.length;
  }
  for (const a of added) at += a.copy(target, at);
  entriesEnd.set(target.buffer, target.byteOffset + target.length);
  return target;
}

/**
 * The serials of a CRL state: the previous state's set plus what one revoke added. Copying
 * a Set of 100,000 bigints took ~30 ms here, more than the revoke's signature, so each
 * state shares its predecessor's set and layers are flattened only every MAX_DEPTH revokes.
 */
export class SerialSet implements ReadonlySet<bigint> {
  private static readonly MAX_DEPTH = 16;
  readonly size: number;

  private constructor(
    private readonly base: ReadonlySet<bigint>,
    private readonly added: ReadonlySet<bigint>,
    private readonly depth: number,
  ) {
    this.size = base.size + added.size;
  }

  /** `base` plus `serials` (which must not be in `base`), without copying `base` most of the time. */
  static with(base: ReadonlySet<bigint>, serials: bigint[]): ReadonlySet<bigint> {
    const depth = base instanceof SerialSet ? base.depth + 1 : 1;
    if (depth > SerialSet.MAX_DEPTH) return new Set([...base, ...serials]);
    return new SerialSet(base, new Set(serials), depth);
  }

  has(serial: bigint): boolean {
    return this.added.has(serial) || this.base.has(serial);
  }

  *values(): SetIterator<bigint> {
    yield* this.base;
    yield* this.added;
  }

  keys(): SetIterator<bigint> {
    return this.values();
  }

  *entries(): SetIterator<[bigint, bigint]> {
    for (const v of this.values()) yield [v, v];
  }

  forEach(fn: (value: bigint, key: bigint, set: ReadonlySet<bigint>) => void, thisArg?: unknown): void {
    for (const v of this.values()) fn.call(thisArg, v, v, this);
  }

  [Symbol.iterator](): SetIterator<bigint> {
    return this.values();
  }
}

/** Reads a CRL back into a state without decoding more than each entry's serial. */
export function crlStateFromDer(der: Buffer): CrlState {
  const top = readTlv(der, 0);
  const [tbsT] = children(der, expectTag(top, Tag.SEQUENCE, "CertificateList"));
  const f = children(der, expectTag(tbsT, Tag.SEQUENCE, "TBSCertList"));
  // A field the structure needs but the CRL lacks is a DerError, never a TypeError (fuzzed: test/fuzz).
  const need = (t: Tlv | undefined, what: string): Tlv => {
    if (!t) throw new DerError(`missing ${what}`);
    return t;
  };
  let i = 0;
  if (f[0]?.tag === Tag.INTEGER) i++;
  i++; // signature algorithm
  const issuer = slice(der, need(f[i++], "issuer"));
  const thisUpdate = decodeTime(der, need(f[i++], "thisUpdate"));
  let nextUpdate = thisUpdate;
  if (f[i] && (f[i]!.tag === Tag.UTC_TIME || f[i]!.tag === Tag.GENERALIZED_TIME)) nextUpdate = decodeTime(der, f[i++]!);
  let entries: Buffer = Buffer.alloc(0);
  const serials = new Set<bigint>();
  if (f[i]?.tag === Tag.SEQUENCE) {
    const list = f[i++]!;
    entries = content(der, list);
    let p = list.contentStart;
    while (p < list.end) {
      const entry = readTlv(der, p, list.end);
      const serialT = readTlv(der, entry.contentStart, entry.end);
      serials.add(decodeInteger(content(der, serialT)));
      p = entry.end;
    }
  }
  let crlNumber = 0n;
  let authorityKeyId = Buffer.alloc(0);
  if (f[i]?.tag === 0xa0) {
    const exts = readTlv(der, f[i]!.contentStart, f[i]!.end);
    for (const e of children(der, exts)) {
      const parts = children(der, e);
      const extOid = decodeOid(content(der, expectTag(parts[0], Tag.OID, "extension id")));
      const val = content(der, expectTag(parts.length > 1 ? parts.at(-1) : undefined, Tag.OCTET_STRING, "extension value"));
      if (extOid === OID.crlNumber) crlNumber = decodeInteger(content(val, readTlv(val, 0)));
      if (extOid === OID.authorityKeyIdentifier) {
        const aki = readTlv(val, 0);
        const kid = children(val, aki).find((t) => t.tag === 0x80);
        if (kid) authorityKeyId = Buffer.from(content(val, kid));
      }
    }
  }
  return { issuer, authorityKeyId, crlNumber, entries: Buffer.from(entries), serials, thisUpdate, nextUpdate };
}

export function crlStateFromPem(pem: string): CrlState {
  try {
    return crlStateFromDer(fromPem(pem, ["X509 CRL"], "CRL"));
  } catch (e) {
    if (e instanceof DerError) throw new DerError(`not a valid CRL: ${e.message}`);
    throw e;
  }
}

export const crlToPem = (der: Uint8Array): string => toPem(der, "X509 CRL");


/** Helper for tests and `print`: the listed serials in order with their dates. */
export function listRevoked(der: Buffer): { serial: bigint; date: Date }[] {
  const st = crlStateFromDer(der);
  const out: { serial: bigint; date: Date }[] = [];
  let p = 0;
  while (p < st.entries.length) {
    const e = readTlv(st.entries, p);
    const [s, d] = children(st.entries, e);
    out.push({ serial: decodeInteger(content(st.entries, s!)), date: decodeTime(st.entries, d!) });
    p = e.end;
  }
  return out;
}

/** One revokedCertificates entry as listed: its serial, revocation date and CRLReason code (undefined when absent). */
export interface CrlEntry {
  serial: bigint;
  date: Date;
  reasonCode?: number;
}

/**
 * Every entry of a CRL in the order listed, with its reason: what a store needs to rebuild
 * revocation records from a CRL it did not write (a CA imported from Puppet).
 */
export function listCrlEntries(der: Buffer): CrlEntry[] {
  const { entries } = crlStateFromDer(der);
  const out: CrlEntry[] = [];
  let p = 0;
  while (p < entries.length) {
    const e = readTlv(entries, p);
    const [s, d, exts] = children(entries, e);
    const entry: CrlEntry = { serial: decodeInteger(content(entries, s!)), date: decodeTime(entries, d!) };
    if (exts?.tag === Tag.SEQUENCE) {
      for (const ext of children(entries, exts)) {
        const parts = children(entries, ext);
        if (decodeOid(content(entries, parts[0]!)) !== OID.crlReason) continue;
        const value = content(entries, parts.at(-1)!);
        const enumerated = readTlv(value, 0);
        if (enumerated.tag === Tag.ENUMERATED) entry.reasonCode = Number(decodeInteger(content(value, enumerated)));
      }
    }
    out.push(entry);
    p = e.end;
  }
  return out;
}

/** Where a CRL's revokedCertificates entries sit in its DER: [start, end), empty when it lists none. */
export function crlEntriesRange(der: Uint8Array): { start: number; end: number } {
  const top = readTlv(der, 0);
  const tbs = expectTag(readTlv(der, top.contentStart, top.end), Tag.SEQUENCE, "TBSCertList");
  // Headers only, up to the entries: version?, signature, issuer, thisUpdate, nextUpdate?, entries?
  const f: Tlv[] = [];
  for (let p = tbs.contentStart; p < tbs.end && f.length < 6; ) {
    const t = readTlv(der, p, tbs.end);
    f.push(t);
    p = t.end;
  }
  let i = f[0]?.tag === Tag.INTEGER ? 4 : 3;
  if (f[i]?.tag === Tag.UTC_TIME || f[i]?.tag === Tag.GENERALIZED_TIME) i++;
  const list = f[i];
  if (list?.tag !== Tag.SEQUENCE) return { start: tbs.end, end: tbs.end };
  return { start: list.contentStart, end: list.end };
}

/** The crlReason OID's content bytes (2.5.29.21). */
const CRL_REASON_OID = Buffer.from([0x55, 0x1d, 0x15]);

/**
 * The entries encoded in der[start, end) (a range from crlEntriesRange, or the part of one
 * after entries already read), as listCrlEntries gives them; with `want`, only the entries
 * whose serial it accepts (the others' dates and reasons are not decoded). Without
 * listCrlEntries' copies and decoded OIDs: at 100,000 entries this takes ~1/5 of its time,
 * and a store that follows a CRL reads only the entries appended since it last looked.
 */
export function crlEntriesIn(der: Uint8Array, start: number, end: number, want?: (serial: bigint) => boolean): CrlEntry[] {
  const out: CrlEntry[] = [];
  let lastTime = -1;
  let lastLen = 0;
  let lastMs = 0;
  let p = start;
  while (p < end) {
    const e = readTlv(der, p, end);
    const s = readTlv(der, e.contentStart, e.end);
    const len = s.end - s.contentStart;
    // Serials up to six bytes (all of fleetca's, Puppet's too) without a BigInt per byte.
    let serial: bigint;
    if (len > 0 && len <= 6 && (der[s.contentStart]! & 0x80) === 0) {
      let n = 0;
      for (let k = s.contentStart; k < s.end; k++) n = n * 256 + der[k]!;
      serial = BigInt(n);
    } else serial = decodeInteger(der.subarray(s.contentStart, s.end));
    p = e.end;
    if (want && !want(serial)) continue;
    const d = readTlv(der, s.end, e.end);
    // Entries revoked together share their time: decode it once.
    const tlen = d.end - d.contentStart;
    if (lastTime < 0 || tlen !== lastLen || !sameBytes(der, lastTime, der, d.contentStart, tlen)) {
      lastMs = timeMs(der, d);
      lastTime = d.contentStart;
      lastLen = tlen;
    }
    const entry: CrlEntry = { serial, date: new Date(lastMs) };
    if (d.end < e.end) {
      const exts = readTlv(der, d.end, e.end);
      for (let q = exts.contentStart; exts.tag === Tag.SEQUENCE && q < exts.end; ) {
        const ext = readTlv(der, q, exts.end);
        q = ext.end;
        const o = readTlv(der, ext.contentStart, ext.end);
        // Compared byte by byte: a subarray per entry cost more than all the rest of its decoding.
        if (o.end - o.contentStart !== CRL_REASON_OID.length || !sameBytes(der, o.contentStart, CRL_REASON_OID, 0, CRL_REASON_OID.length)) continue;
        let v = readTlv(der, o.end, ext.end);
        if (v.tag === Tag.BOOLEAN) v = readTlv(der, v.end, ext.end);
        const en = readTlv(der, v.contentStart, v.end);
        // Reason codes are 0..10: one content byte.
        if (en.tag === Tag.ENUMERATED && en.end - en.contentStart === 1) entry.reasonCode = der[en.contentStart]!;
      }
    }
    out.push(entry);
  }
  return out;
}

/** decodeTime's value in milliseconds, read from the digits (no string, no regular expression). */
function timeMs(der: Uint8Array, t: Tlv): number {
  const at = t.contentStart;
  const len = t.end - at;
  const utc = t.tag === Tag.UTC_TIME;
  if ((utc ? len !== 13 : len !== 15) || der[t.end - 1] !== 0x5a /* Z */) return decodeTime(der, t).getTime();
  let year: number;
  let i: number;
  if (utc) {
    const yy = digits(der, at, 2);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    i = at + 2;
  } else {
    year = digits(der, at, 4);
    i = at + 4;
  }
  const ms = Date.UTC(year, digits(der, i, 2) - 1, digits(der, i + 2, 2), digits(der, i + 4, 2), digits(der, i + 6, 2), digits(der, i + 8, 2));
  return Number.isNaN(ms) ? decodeTime(der, t).getTime() : ms;
}

/** The decimal number in `k` ASCII digits at `at`; NaN if one is not a digit. */
function digits(buf: Uint8Array, at: number, k: number): number {
  let v = 0;
  for (let j = at; j < at + k; j++) {
    const c = buf[j]! - 0x30;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

function sameBytes(a: Uint8Array, at: number, b: Uint8Array, bt: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (a[at + k] !== b[bt + k]) return false;
  return true;
}
