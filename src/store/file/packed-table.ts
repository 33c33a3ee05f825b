/**
 * One kind's entries of the index (requests/ or signed/), packed: every entry is its
 * journal put line, copied into one growing byte arena, and a few typed arrays say where
 * each line and its name are. A hash table in an Int32Array finds a name's slot. No
 * JavaScript object is kept per entry: at 1,000,000 certificates the index held as one
 * object per entry (a Map slot, an entry, its record and sliced strings over the decoded
 * journal text) cost ~0.4 kB a certificate, and loading it was mostly the garbage
 * collector and Map inserts. Here it is ~0.2 kB (the line's bytes and 13 bytes of slot).
 *
 * Entries are materialised when read (PackedEntry, over the arena's bytes). The arena is
 * only ever appended to, and replaced whole when it grows or is compacted, so an entry
 * handed out keeps reading the bytes it was made from whatever the table does next.
 *
 * Stored lines never carry the directory or inventory markers (dir, inv): those are the
 * cache's state, not the entry's, and compaction writes the stored lines back as they are.
 * A record whose fields cannot be written as a tab-separated line (a control character in
 * a name: journal-tsv.ts) is kept as its object in `odd`, beside its name's bytes.
 *
 * A line's fingerprint in the usual form (32 upper-case hex pairs and colons, 95 bytes) is
 * kept as SHA_PACKED and its 32 bytes (33): at 1,000,000 certificates that is 62 MB less
 * arena, and memory touched for the first time was most of what loading the index cost. It
 * is written back as the same 95 bytes (lines(), copySha256); other lines are kept as read.
 *
 * The name order (code-unit order, as the index lists) is kept as a permutation of slots:
 * a journal written by compaction is already in name order, so loading it needs no sort;
 * names added later are sorted on their own and merged in when a listing asks.
 */
import type { IndexEntry, IndexRows } from "../../ca/store.js";
import type { IndexRecord } from "./journal.js";
import { decodeTsv, encodeTsv, NO_EXTENSIONS, NO_NAMES } from "./journal-tsv.js";
import { addName, type NameDigest } from "./dir-names.js";
import type { Kind } from "./layout.js";

const TAB = 0x09;
/** Past this many runs in name order, a load sorts its names instead of merging the runs. */
const MAX_RUNS = 64;
const NL = 0x0a;
/** Bytes before the name in a put line: RS, "P", tab, the kind letter, tab. */
const NAME_AT = 5;
/** Field numbers of a put line counted from the name (journal-tsv.ts counts from the kind). */
const SHA = 1;
const SERIAL = 2;
const NOT_BEFORE = 3;
const NOT_AFTER = 4;
const SIZE = 5;
const MTIME = 6;
const ALT = 9;
const AUTH = 10;
/** First byte of a packed fingerprint field: a control character, which no text field holds. */
const SHA_PACKED = 0x01;
/** The usual fingerprint as text ("AB:CD:...": 32 pairs) and as stored packed (the mark and 32 bytes). */
const SHA_TEXT = 95;
const SHA_STORED = 33;
/** Hex digit values by byte, upper case only (what fleetca writes), -1 for anything else. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let d = 0; d < 16; d++) HEX_VALUE["0123456789ABCDEF".charCodeAt(d)] = d;
/** The two hex digits of each byte value, as character codes. */
const HEX_DIGITS = Buffer.from(Array.from({ length: 256 }, (_, b) => b.toString(16).toUpperCase().padStart(2, "0")).join(""), "latin1");

/** An immutable listing of a table: slots' lines in name order, over the arena of the moment. */
export interface SortedRows extends IndexRows {
  readonly kind: Kind;
  readonly size: number;
  /** The entry at position i (materialised now). */
  entry(i: number): IndexEntry;
  name(i: number): string;
  /** The serial as a double (exact below 2^53), NaN for none. */
  serialKey(i: number): number;
  /** The exact serial, for ties and revocation checks past 2^53. */
  serial(i: number): bigint | undefined;
  /** notAfter in ms, NaN for none. */
  notAfterMs(i: number): number;
}

export class PackedTable {
  private arena = Buffer.allocUnsafeSlow(64 * 1024);
  private used = 0;
  /** Bytes of lines no slot points at any more (superseded or removed). */
  private deadBytes = 0;
  private cap = 1024;
  private lineStart = new Uint32Array(this.cap);
  /** 0 for a removed slot (a line is never empty). */
  private lineEnd = new Uint32Array(this.cap);
  private nameLen = new Uint32Array(this.cap);
  /** 1 when the line needs no decoding beyond PackedEntry's (alt names "" or "=", no auth extensions). */
  private plain = new Uint8Array(this.cap);
  private slots = 0;
  private liveCount = 0;
  /** Slot + 1 per bucket; 0 empty, -1 a removed name. */
  private buckets = new Int32Array(2048);
  private tombstones = 0;
  /** Records that cannot be a tab-separated line, by slot. */
  private readonly odd = new Map<number, IndexRecord>();
  /** Slots in name order (may hold removed slots, skipped), or undefined until first asked. */
  private perm?: Int32Array;
  /** Slots added since perm was made. */
  private unsorted: number[] = [];
  /**
   * While perm is undefined: the first slot of each run of slots added in name order. A
   * compacted journal is one run; a journal written in pieces between other names (a
   * fixture grown in steps, certificates signed since) a few: merged, not sorted.
   */
  private runStarts: number[] = [0];
  private readonly kindLetter: number;
  /** Serial key -> slot, built on the first lookup by serial, then kept in step. */
  private serials?: SerialHash;

  constructor(readonly kind: Kind) {
    this.kindLetter = kind === "request" ? 0x72 : 0x63;
  }

  get size(): number {
    return this.liveCount;
  }

  clear(): void {
    this.arena = Buffer.allocUnsafeSlow(64 * 1024);
    this.used = this.deadBytes = this.slots = this.liveCount = this.tombstones = 0;
    this.cap = 1024;
    this.lineStart = new Uint32Array(this.cap);
    this.lineEnd = new Uint32Array(this.cap);
    this.nameLen = new Uint32Array(this.cap);
    this.plain = new Uint8Array(this.cap);
    this.buckets = new Int32Array(2048);
    this.odd.clear();
    this.perm = undefined;
    this.unsorted = [];
    this.runStarts = [0];
    this.serials = undefined;
  }

  /**
   * Stores a put line straight from the journal's bytes (`start` at its RS, `end` at its
   * newline), when it is of the usual form and checked whole here; false otherwise, and the
   * caller decodes it as text (decodeLine) and calls put().
   */
  putLine(buf: Buffer, start: number, end: number): boolean {
    if (buf[start + 2] !== TAB || buf[start + 3] !== this.kindLetter || buf[start + 4] !== TAB) return false;
    // Each field checked as decodePut would; a field ends at a tab (or the line's end).
    const nameEnd = skipText(buf, start + NAME_AT, end);
    if (nameEnd <= start + NAME_AT || nameEnd >= end) return false;
    let i = skipText(buf, nameEnd + 1, end); // sha256
    if (i <= nameEnd + 1 || i >= end) return false;
    i = skipHex(buf, i + 1, end); // serial
    if (i < 0 || i >= end) return false;
    i = skipDecimal(buf, i + 1, end, false); // notBefore
    if (i < 0 || i >= end) return false;
    i = skipDecimal(buf, i + 1, end, false); // notAfter
    if (i < 0 || i >= end) return false;
    let from = i + 1;
    i = skipDecimal(buf, from, end, false); // size
    if (i <= from || i >= end) return false;
    from = i + 1;
    i = skipDecimal(buf, from, end, true); // mtimeMs
    if (i <= from || i + 4 > end) return false;
    // dir and inv empty (markers are not stored), alt names "" or "=", no auth extensions: the end.
    if (buf[i + 1] !== TAB || buf[i + 2] !== TAB) return false;
    const alt = buf[i + 3];
    if (!((alt === TAB && i + 4 === end) || (alt === 0x3d && buf[i + 4] === TAB && i + 5 === end))) return false;
    const plain = 1;
    const nameBytes = nameEnd - (start + NAME_AT);
    const at = this.slotFor(buf, start + NAME_AT, nameBytes);
    const off = this.reserve(end - start);
    const len = storeLine(buf, start, end, nameEnd + 1, this.arena, off);
    this.used += len;
    this.setLine(at, off, len, nameBytes, plain);
    return true;
  }

  /**
   * Makes room for `bytes` of lines at once (a journal about to be loaded whole): growing
   * the arena by doubling copied it a dozen times on the way to 190 MB. Memory not yet
   * written to costs no RSS.
   */
  reserveFor(bytes: number): void {
    // A quarter more, so the writes that follow a load do not copy the whole arena at once.
    if (this.arena.length < this.used + bytes) this.growArena(Math.ceil((this.used + bytes) * 1.25) + (1 << 20));
    // The slots and the hash table too, for a line of ~150 bytes or more (rehashing on the way cost as much as the inserts).
    const lines = Math.ceil(bytes / 150);
    if (this.cap < this.slots + lines) this.growSlots(this.slots + lines);
    let size = this.buckets.length;
    while (size < (this.slots + this.tombstones + lines) * 2) size *= 2;
    if (size > this.buckets.length) this.rehash(size);
  }

  /** Stores a record (from the store's own writes, a rescan, or a line decoded as text). */
  put(rec: IndexRecord): void {
    const line = encodeTsv({ op: "put", kind: this.kind, rec: { entry: rec.entry, size: rec.size, mtimeMs: rec.mtimeMs } });
    const nameBuf = Buffer.from(rec.entry.name, "utf8");
    if (line === undefined) {
      // Kept as an object; its arena bytes are the name alone, for the hash and the order.
      const at = this.slotFor(nameBuf, 0, nameBuf.length);
      const off = this.reserve(NAME_AT + nameBuf.length);
      this.arena.fill(0, off, off + NAME_AT);
      nameBuf.copy(this.arena, off + NAME_AT);
      this.used += NAME_AT + nameBuf.length;
      // Before setLine: it reads the serial from here, and may compact (renumbering the slots).
      this.odd.set(at, rec);
      this.setLine(at, off, NAME_AT + nameBuf.length, nameBuf.length, 0);
      return;
    }
    const bytes = Buffer.from(line, "utf8");
    const alt = fieldOf(bytes, 0, bytes.length, nameBuf.length, ALT);
    const auth = fieldOf(bytes, 0, bytes.length, nameBuf.length, AUTH);
    const plain = auth === "" && (alt === "" || alt === "=") ? 1 : 0;
    const at = this.slotFor(nameBuf, 0, nameBuf.length);
    const off = this.reserve(bytes.length);
    // Only plain lines are packed: the others are decoded as text (materialise).
    const len = plain ? storeLine(bytes, 0, bytes.length, NAME_AT + nameBuf.length + 1, this.arena, off) : bytes.copy(this.arena, off);
    this.used += len;
    this.setLine(at, off, len, nameBuf.length, plain);
  }

  delete(name: string): boolean {
    const b = this.find(name);
    if (b < 0) return false;
    const slot = this.buckets[b]! - 1;
    this.serials?.remove(this.serialKeyOf(slot), slot);
    this.deadBytes += this.lineEnd[slot]! - this.lineStart[slot]!;
    this.lineEnd[slot] = 0;
    this.odd.delete(slot);
    this.buckets[b] = -1;
    this.tombstones++;
    this.liveCount--;
    this.maybeCompact();
    return true;
  }

  has(name: string): boolean {
    return this.find(name) >= 0;
  }

  /** The live names summed up (dir-names.ts): one pass over the arena in slot order. */
  nameDigest(): NameDigest {
    const d: NameDigest = { count: 0, a: 0, b: 0 };
    for (let s = 0; s < this.slots; s++) if (this.lineEnd[s] !== 0) addName(d, this.arena, this.lineStart[s]! + NAME_AT, this.nameLen[s]!);
    return d;
  }


  get(name: string): IndexRecord | undefined {
    const b = this.find(name);
    if (b < 0) return undefined;
    return this.recordOf(this.buckets[b]! - 1);
  }

  /** The current entries holding this serial (several only when a regenerated CA reused it). */
  bySerial(serial: bigint): IndexEntry | undefined {
    if (!this.serials) {
      this.serials = new SerialHash();
      for (let s = 0; s < this.slots; s++) if (this.lineEnd[s] !== 0) this.serials.add(this.serialKeyOf(s), s);
    }
    for (const slot of this.serials.slotsOf(Number(serial))) {
      const rec = this.recordOf(slot);
      if (rec.entry.serial === serial) return rec.entry;
    }
    return undefined;
  }

  /**
   * A rescan of the directory (index-cache.ts): `check` is called with each name found on
   * disk and says, from the size and mtime the index holds (undefined: not in the index),
   * whether the file must be read again; the result is those names and the names the index
   * holds that were not found. Nothing is made per entry the index already holds: at
   * 1,000,000 names, looking each up as an entry took seconds.
   */
  rescan(onDisk: readonly string[], check: (name: string, held?: { size: number; mtimeMs: number }) => boolean, withStamps: boolean): { changed: string[]; gone: string[] } {
    const seen = new Uint8Array(this.slots);
    const changed: string[] = [];
    for (const name of onDisk) {
      const b = this.find(name);
      if (b < 0) {
        if (check(name)) changed.push(name);
        continue;
      }
      const slot = this.buckets[b]! - 1;
      seen[slot] = 1;
      if (withStamps && check(name, this.stampOf(slot))) changed.push(name);
    }
    const gone: string[] = [];
    for (let s = 0; s < this.slots; s++) if (this.lineEnd[s] !== 0 && !seen[s]) gone.push(this.nameOf(s));
    return { changed, gone };
  }

  private stampOf(slot: number): { size: number; mtimeMs: number } {
    const odd = this.odd.get(slot);
    if (odd) return { size: odd.size, mtimeMs: odd.mtimeMs };
    const [start, end, len] = [this.lineStart[slot]!, this.lineEnd[slot]!, this.nameLen[slot]!];
    return { size: Number(fieldOf(this.arena, start, end, len, SIZE)), mtimeMs: Number(fieldOf(this.arena, start, end, len, MTIME)) };
  }

  /** Every record, in name order (compaction writes them so, and a load then needs no sort). */
  *records(): Generator<IndexRecord> {
    const order = this.order();
    for (let k = 0; k < order.length; k++) yield this.recordOf(order[k]!);
  }

  /**
   * The journal lines of every entry, in name order, for compaction: the stored bytes as
   * they are, and `encode` for the records kept as objects.
   */
  lines(encode: (rec: IndexRecord) => string): Buffer[] {
    const order = this.order();
    const out: Buffer[] = [];
    let chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
    let at = 0;
    for (let k = 0; k < order.length; k++) {
      const s = order[k]!;
      const odd = this.odd.get(s);
      const bytes = odd ? Buffer.from(encode(odd), "utf8") : undefined;
      // A packed fingerprint is written back as its 95 bytes of text.
      const len = bytes ? bytes.length : this.lineEnd[s]! - this.lineStart[s]! + SHA_TEXT - SHA_STORED;
      if (at + len + 1 > chunk.length) {
        out.push(chunk.subarray(0, at));
        chunk = Buffer.allocUnsafe(Math.max(4 * 1024 * 1024, len + 1));
        at = 0;
      }
      if (bytes) at += bytes.copy(chunk, at);
      else at = lineText(this.arena, this.lineStart[s]!, this.lineEnd[s]!, this.nameLen[s]!, chunk, at);
      chunk[at++] = NL;
    }
    if (at > 0) out.push(chunk.subarray(0, at));
    return out;
  }

  /** A frozen view of the entries in name order: later changes to the table do not show in it. */
  sorted(): SortedRows {
    const order = this.order();
    const n = order.length;
    const start = new Uint32Array(n);
    const end = new Uint32Array(n);
    const nameLen = new Uint32Array(n);
    const plain = new Uint8Array(n);
    let odd: Map<number, IndexEntry> | undefined;
    for (let k = 0; k < n; k++) {
      const s = order[k]!;
      start[k] = this.lineStart[s]!;
      end[k] = this.lineEnd[s]!;
      nameLen[k] = this.nameLen[s]!;
      plain[k] = this.plain[s]!;
      const o = this.odd.get(s);
      if (o) (odd ??= new Map()).set(k, o.entry);
    }
    return new Rows(this.kind, this.arena, start, end, nameLen, plain, odd);
  }

  // --- slots and the hash table ---

  private recordOf(slot: number): IndexRecord {
    const odd = this.odd.get(slot);
    if (odd) return odd;
    const start = this.lineStart[slot]!;
    const end = this.lineEnd[slot]!;
    const entry = materialise(this.kind, this.arena, start, end, this.nameLen[slot]!, this.plain[slot]!);
    return new PackedRecord(entry, this.arena, start, end, this.nameLen[slot]!);
  }

  private nameOf(slot: number): string {
    const at = this.lineStart[slot]! + NAME_AT;
    return this.arena.toString("utf8", at, at + this.nameLen[slot]!);
  }

  private serialKeyOf(slot: number): number {
    const odd = this.odd.get(slot);
    if (odd) return odd.entry.serial === undefined ? NaN : Number(odd.entry.serial);
    return hexKey(this.arena, this.lineStart[slot]!, this.lineEnd[slot]!, this.nameLen[slot]!);
  }

  /** The slot for this name: its current one, or a new one (the name not yet in the table). */
  private slotFor(buf: Buffer, at: number, len: number): number {
    // Grown before inserting: a rehash keeps only slots that hold a line.
    if ((this.slots + this.tombstones + 1) * 2 > this.buckets.length) this.rehash(this.buckets.length * 2);
    const h = hashBytes(buf, at, len);
    const mask = this.buckets.length - 1;
    let firstFree = -1;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const v = this.buckets[b]!;
      if (v === 0) {
        if (firstFree < 0) firstFree = b;
        break;
      }
      if (v < 0) {
        if (firstFree < 0) firstFree = b;
        continue;
      }
      const s = v - 1;
      if (this.nameLen[s] === len && sameBytes(this.arena, this.lineStart[s]! + NAME_AT, buf, at, len)) {
        // An existing name: its old line is dead, the slot keeps its place in the order.
        this.serials?.remove(this.serialKeyOf(s), s);
        this.deadBytes += this.lineEnd[s]! - this.lineStart[s]!;
        this.odd.delete(s);
        this.liveCount--;
        return s;
      }
    }
    if (this.buckets[firstFree] === -1) this.tombstones--;
    const s = this.slots++;
    if (s >= this.cap) this.growSlots(this.cap * 2);
    this.buckets[firstFree] = s + 1;
    if (this.perm) this.unsorted.push(s);
    else if (s > 0 && this.runStarts.length <= MAX_RUNS) {
      // Compared with the previous slot's name, whose line is still in the arena.
      const p = s - 1;
      if (compareNames(this.arena, this.lineStart[p]! + NAME_AT, this.nameLen[p]!, buf, at, len) >= 0) this.runStarts.push(s);
    }
    return s;
  }

  private setLine(slot: number, off: number, len: number, nameBytes: number, plain: number): void {
    this.lineStart[slot] = off;
    this.lineEnd[slot] = off + len;
    this.nameLen[slot] = nameBytes;
    this.plain[slot] = plain;
    this.liveCount++;
    this.serials?.add(this.serialKeyOf(slot), slot);
    // A name rewritten many times leaves its old lines behind: drop them once they are most of the arena.
    if (this.deadBytes > 16 * 1024 * 1024 && this.deadBytes > this.used - this.deadBytes) this.compactNow();
  }

  private find(name: string): number {
    const ascii = isAscii(name);
    const bytes = ascii ? undefined : Buffer.from(name, "utf8");
    const len = bytes ? bytes.length : name.length;
    const h = bytes ? hashBytes(bytes, 0, len) : hashAscii(name);
    const mask = this.buckets.length - 1;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const v = this.buckets[b]!;
      if (v === 0) return -1;
      if (v < 0) continue;
      const s = v - 1;
      if (this.nameLen[s] !== len) continue;
      const at = this.lineStart[s]! + NAME_AT;
      if (bytes ? sameBytes(this.arena, at, bytes, 0, len) : sameAscii(this.arena, at, name)) return b;
    }
  }

  private reserve(len: number): number {
    if (this.used + len > this.arena.length) {
      let size = this.arena.length * 2;
      while (size < this.used + len) size *= 2;
      this.growArena(size);
    }
    return this.used;
  }

  private growArena(size: number): void {
    const next = Buffer.allocUnsafeSlow(size);
    this.arena.copy(next, 0, 0, this.used);
    this.arena = next;
  }

  private growSlots(cap: number): void {
    this.cap = cap;
    const grow = <T extends Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(this.cap);
      b.set(a);
      return b;
    };
    this.lineStart = grow(this.lineStart, (n) => new Uint32Array(n));
    this.lineEnd = grow(this.lineEnd, (n) => new Uint32Array(n));
    this.nameLen = grow(this.nameLen, (n) => new Uint32Array(n));
    this.plain = grow(this.plain, (n) => new Uint8Array(n));
  }

  private rehash(size: number): void {
    const buckets = new Int32Array(size);
    const mask = size - 1;
    for (let s = 0; s < this.slots; s++) {
      if (this.lineEnd[s] === 0) continue;
      const at = this.lineStart[s]! + NAME_AT;
      let b = hashBytes(this.arena, at, this.nameLen[s]!) & mask;
      while (buckets[b] !== 0) b = (b + 1) & mask;
      buckets[b] = s + 1;
    }
    this.buckets = buckets;
    this.tombstones = 0;
  }

  /**
   * Drops removed slots and dead bytes once they outweigh the live ones: the slots are
   * renumbered in name order, so the order is the slots' own again.
   */
  private maybeCompact(): void {
    const dead = this.slots - this.liveCount;
    if (dead < 1024 || dead < this.liveCount) return;
    this.compactNow();
  }

  private compactNow(): void {
    const order = this.order();
    const n = order.length;
    let bytes = 0;
    for (let k = 0; k < n; k++) bytes += this.lineEnd[order[k]!]! - this.lineStart[order[k]!]!;
    const arena = Buffer.allocUnsafeSlow(Math.max(64 * 1024, bytes * 2));
    const cap = Math.max(1024, n * 2);
    const lineStart = new Uint32Array(cap);
    const lineEnd = new Uint32Array(cap);
    const nameLen = new Uint32Array(cap);
    const plain = new Uint8Array(cap);
    const odd = new Map<number, IndexRecord>();
    let used = 0;
    for (let k = 0; k < n; k++) {
      const s = order[k]!;
      const len = this.lineEnd[s]! - this.lineStart[s]!;
      this.arena.copy(arena, used, this.lineStart[s]!, this.lineEnd[s]!);
      lineStart[k] = used;
      lineEnd[k] = used + len;
      nameLen[k] = this.nameLen[s]!;
      plain[k] = this.plain[s]!;
      const o = this.odd.get(s);
      if (o) odd.set(k, o);
      used += len;
    }
    Object.assign(this, { arena, used, deadBytes: 0, cap, lineStart, lineEnd, nameLen, plain, slots: n, liveCount: n });
    this.odd.clear();
    for (const [k, v] of odd) this.odd.set(k, v);
    this.perm = Int32Array.from({ length: n }, (_, i) => i);
    this.unsorted = [];
    this.serials = undefined;
    let size = 2048;
    while (size < n * 4) size *= 2;
    this.rehash(size);
  }

  /** The live slots in name order. */
  private order(): Int32Array {
    if (!this.perm) {
      this.unsorted = [];
      if (this.runStarts.length > MAX_RUNS) {
        // Names in no particular order: sorted whole, below.
        this.perm = new Int32Array(0);
        for (let s = 0; s < this.slots; s++) if (this.lineEnd[s] !== 0) this.unsorted.push(s);
      } else {
        let runs: Int32Array[] = this.runStarts.map((start, r) => {
          const end = this.runStarts[r + 1] ?? this.slots;
          const run = new Int32Array(end - start);
          let k = 0;
          for (let s = start; s < end; s++) if (this.lineEnd[s] !== 0) run[k++] = s;
          return run.subarray(0, k);
        });
        while (runs.length > 1) {
          const next: Int32Array[] = [];
          for (let r = 0; r < runs.length; r += 2) next.push(r + 1 < runs.length ? this.merge(runs[r]!, runs[r + 1]!) : runs[r]!);
          runs = next;
        }
        this.perm = runs[0] ?? new Int32Array(0);
      }
    }
    const added = this.unsorted.filter((s) => this.lineEnd[s] !== 0).sort((a, b) => this.compareSlots(a, b));
    const perm = this.perm;
    if (added.length === 0 && perm.length === this.liveCount) return perm;
    // Merge the names added since with the order kept, dropping removed slots.
    const out = new Int32Array(this.liveCount);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < perm.length || j < added.length) {
      if (i < perm.length && this.lineEnd[perm[i]!] === 0) {
        i++;
        continue;
      }
      if (j >= added.length || (i < perm.length && this.compareSlots(perm[i]!, added[j]!) < 0)) out[k++] = perm[i++]!;
      else out[k++] = added[j++]!;
    }
    this.perm = out;
    this.unsorted = [];
    return out;
  }

  /** Two lists of slots in name order, merged. */
  private merge(a: Int32Array, b: Int32Array): Int32Array {
    const out = new Int32Array(a.length + b.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < a.length && j < b.length) out[k++] = this.compareSlots(a[i]!, b[j]!) < 0 ? a[i++]! : b[j++]!;
    while (i < a.length) out[k++] = a[i++]!;
    while (j < b.length) out[k++] = b[j++]!;
    return out;
  }

  private compareSlots(a: number, b: number): number {
    return compareNames(this.arena, this.lineStart[a]! + NAME_AT, this.nameLen[a]!, this.arena, this.lineStart[b]! + NAME_AT, this.nameLen[b]!);
  }
}

/** Positions of a table frozen at one moment (PackedTable.sorted). */
class Rows implements SortedRows {
  constructor(
    readonly kind: Kind,
    private readonly arena: Buffer,
    private readonly start: Uint32Array,
    private readonly end: Uint32Array,
    private readonly nameLen: Uint32Array,
    private readonly plain: Uint8Array,
    private readonly odd: Map<number, IndexEntry> | undefined,
  ) {}

  get size(): number {
    return this.start.length;
  }

  entry(i: number): IndexEntry {
    return this.odd?.get(i) ?? materialise(this.kind, this.arena, this.start[i]!, this.end[i]!, this.nameLen[i]!, this.plain[i]!);
  }

  name(i: number): string {
    const odd = this.odd?.get(i);
    if (odd) return odd.name;
    const at = this.start[i]! + NAME_AT;
    return this.arena.toString("utf8", at, at + this.nameLen[i]!);
  }

  serialKey(i: number): number {
    const odd = this.odd?.get(i);
    if (odd) return odd.serial === undefined ? NaN : Number(odd.serial);
    return hexKey(this.arena, this.start[i]!, this.end[i]!, this.nameLen[i]!);
  }

  serial(i: number): bigint | undefined {
    const odd = this.odd?.get(i);
    if (odd) return odd.serial;
    const hex = fieldOf(this.arena, this.start[i]!, this.end[i]!, this.nameLen[i]!, SERIAL);
    return hex === "" ? undefined : BigInt(`0x${hex}`);
  }

  sha256(i: number): string {
    const odd = this.odd?.get(i);
    if (odd) return odd.sha256;
    return fieldOf(this.arena, this.start[i]!, this.end[i]!, this.nameLen[i]!, SHA);
  }

  copyName(i: number, into: Uint8Array, at: number): number {
    const odd = this.odd?.get(i);
    if (odd) return copyText(odd.name, into, at);
    const from = this.start[i]! + NAME_AT;
    return copyBytes(this.arena, from, from + this.nameLen[i]!, into, at);
  }

  copySha256(i: number, into: Uint8Array, at: number): number {
    const odd = this.odd?.get(i);
    if (odd) return copyText(odd.sha256, into, at);
    const from = this.start[i]! + NAME_AT + this.nameLen[i]! + 1;
    if (this.arena[from] === SHA_PACKED) return at + SHA_TEXT > into.length ? -1 : writeShaText(this.arena, from, into, at);
    let end = from;
    while (end < this.end[i]! && this.arena[end] !== TAB) end++;
    return copyBytes(this.arena, from, end, into, at);
  }

  plainAltNames(i: number): boolean {
    if (this.plain[i]) return true;
    const alt = this.entry(i).altNames;
    return alt.length === 0 || (alt.length === 1 && alt[0] === `DNS:${this.name(i)}`);
  }

  notAfterMs(i: number): number {
    const odd = this.odd?.get(i);
    if (odd) return odd.notAfter === undefined ? NaN : odd.notAfter.getTime();
    const text = fieldOf(this.arena, this.start[i]!, this.end[i]!, this.nameLen[i]!, NOT_AFTER);
    return text === "" ? NaN : Number(text);
  }
}

/**
 * The entry of a stored line, decoded whole into a plain frozen object (as makeEntry
 * builds): entries are made per read, a few per enrollment, and no caller walking many of
 * them goes through here (a listing reads SortedRows' fields by position).
 */
function materialise(kind: Kind, arena: Buffer, start: number, end: number, nameLen: number, plain: number): IndexEntry {
  const name = arena.toString("utf8", start + NAME_AT, start + NAME_AT + nameLen);
  if (!plain) {
    const r = decodeTsv(arena.toString("utf8", start, end), 0);
    if (r?.op !== "put") throw new Error(`index: a stored line no longer decodes (${name})`);
    return r.rec.entry;
  }
  const from = start + NAME_AT + nameLen + 1;
  const entry: IndexEntry = {
    name,
    state: kind === "request" ? "requested" : "signed",
    sha256: fieldFrom(arena, from, end, 0),
    altNames: fieldFrom(arena, from, end, ALT - SHA) === "=" ? (Object.freeze([`DNS:${name}`]) as string[]) : NO_NAMES,
    authExtensions: NO_EXTENSIONS,
  };
  const hex = fieldFrom(arena, from, end, SERIAL - SHA);
  // Up to 13 hex digits fit a double exactly: no "0x" string to build for the usual serial.
  if (hex !== "") entry.serial = hex.length <= 13 ? BigInt(parseInt(hex, 16)) : BigInt(`0x${hex}`);
  const notBefore = fieldFrom(arena, from, end, NOT_BEFORE - SHA);
  if (notBefore !== "") entry.notBefore = new Date(Number(notBefore));
  const notAfter = fieldFrom(arena, from, end, NOT_AFTER - SHA);
  if (notAfter !== "") entry.notAfter = new Date(Number(notAfter));
  return Object.freeze(entry);
}

/** The IndexRecord of a stored line: size and mtimeMs decoded when a rescan asks. */
class PackedRecord implements IndexRecord {
  constructor(
    readonly entry: IndexEntry,
    private readonly arena: Buffer,
    private readonly start: number,
    private readonly end: number,
    private readonly nameLen: number,
  ) {}

  get size(): number {
    return Number(fieldOf(this.arena, this.start, this.end, this.nameLen, SIZE));
  }

  get mtimeMs(): number {
    return Number(fieldOf(this.arena, this.start, this.end, this.nameLen, MTIME));
  }
}

/** Copies bytes [from, end) of `src` into `into` at `at` (a loop: for ~100 bytes, cheaper than a native call and its view). */
function copyBytes(src: Buffer, from: number, end: number, into: Uint8Array, at: number): number {
  if (at + (end - from) > into.length) return -1;
  for (let k = from; k < end; k++) into[at++] = src[k]!;
  return at;
}

function copyText(text: string, into: Uint8Array, at: number): number {
  const bytes = Buffer.from(text, "utf8");
  return copyBytes(bytes, 0, bytes.length, into, at);
}

/** The end of the fingerprint field at `from` (a tab, or `end`): packed, it is SHA_STORED bytes long. */
function shaEnd(buf: Buffer, from: number, end: number): number {
  if (buf[from] === SHA_PACKED) return from + SHA_STORED;
  while (from < end && buf[from] !== TAB) from++;
  return from;
}

/**
 * Copies the line [start, end) of `src` into `into` at `at`, its fingerprint field (at
 * `sha`) packed when it is of the usual form; returns the bytes written. `into` has room
 * for the line as it is.
 */
function storeLine(src: Buffer, start: number, end: number, sha: number, into: Buffer, at: number): number {
  const from = at;
  // The name's few bytes by a loop: cheaper than a native copy's call.
  for (let k = start; k < sha; k++) into[at++] = src[k]!;
  if (src[sha + SHA_TEXT] === TAB && packSha(src, sha, into, at)) {
    at += SHA_STORED;
    for (let k = sha + SHA_TEXT; k < end; k++) into[at++] = src[k]!;
    return at - from;
  }
  return src.copy(into, from, start, end);
}

/** Writes "AB:CD:..." at src[sha, sha + 95) as SHA_PACKED and its 32 bytes at into[at]; false, with nothing meant, when it is not of that form. */
function packSha(src: Buffer, sha: number, into: Buffer, at: number): boolean {
  into[at] = SHA_PACKED;
  for (let k = 0; k < 32; k++) {
    const p = sha + 3 * k;
    const hi = HEX_VALUE[src[p]!]!;
    const lo = HEX_VALUE[src[p + 1]!]!;
    if (hi < 0 || lo < 0 || (k < 31 && src[p + 2] !== 0x3a)) return false;
    into[at + 1 + k] = (hi << 4) | lo;
  }
  return true;
}

/** The packed fingerprint at src[from] written as its 95 bytes of text at into[at]; returns the end. */
function writeShaText(src: Buffer, from: number, into: Uint8Array, at: number): number {
  for (let k = 0; k < 32; k++) {
    const b = src[from + 1 + k]! * 2;
    if (k > 0) into[at++] = 0x3a;
    into[at++] = HEX_DIGITS[b]!;
    into[at++] = HEX_DIGITS[b + 1]!;
  }
  return at;
}

/** The stored line as the journal's text, at into[at] (room for it assumed); returns the end. */
function lineText(arena: Buffer, start: number, end: number, nameLen: number, into: Buffer, at: number): number {
  const sha = start + NAME_AT + nameLen + 1;
  if (arena[sha] !== SHA_PACKED) return at + arena.copy(into, at, start, end);
  at += arena.copy(into, at, start, sha);
  at = writeShaText(arena, sha, into, at);
  return at + arena.copy(into, at, sha + SHA_STORED, end);
}

/** The end (a tab, or `end`) of a field of printable text from `i`; -1 at a control character. */
function skipText(buf: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === TAB) return i;
    if (b < 0x20) return -1;
  }
  return end;
}

/** As skipText for upper-case hex digits (or none). */
function skipHex(buf: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === TAB) return i;
    if (!((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46))) return -1;
  }
  return end;
}

/** As skipText for a decimal: digits after an optional minus, with one dot when `fraction`. */
function skipDecimal(buf: Buffer, i: number, end: number, fraction: boolean): number {
  const first = i;
  let dots = 0;
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === TAB) break;
    if (b >= 0x30 && b <= 0x39) continue;
    if (b === 0x2d && i === first && !fraction) continue;
    if (b === 0x2e && fraction && ++dots === 1) continue;
    return -1;
  }
  // A lone minus is no number.
  return i === first + 1 && buf[first] === 0x2d ? -1 : i;
}

/** Field `i` (numbered from the name) of the line at [start, end) whose name has `nameLen` bytes. */
function fieldOf(buf: Buffer, start: number, end: number, nameLen: number, i: number): string {
  return fieldFrom(buf, start + NAME_AT + nameLen + 1, end, i - SHA);
}

/** The `skip`-th tab-separated field from `from`. Fields after the name are ASCII. */
function fieldFrom(buf: Buffer, from: number, end: number, skip: number): string {
  if (skip === 0 && buf[from] === SHA_PACKED) {
    const text = Buffer.allocUnsafe(SHA_TEXT);
    writeShaText(buf, from, text, 0);
    return text.toString("latin1");
  }
  let at = from;
  if (skip > 0) at = shaEnd(buf, from, end) + 1;
  for (let k = 1; k < skip; k++) {
    while (at < end && buf[at] !== TAB) at++;
    at++;
  }
  let stop = at;
  while (stop < end && buf[stop] !== TAB) stop++;
  return at >= stop ? "" : buf.toString("latin1", at, stop);
}

/** The serial field as a double (exact up to 13 hex digits), NaN when empty. */
function hexKey(buf: Buffer, start: number, end: number, nameLen: number): number {
  let at = shaEnd(buf, start + NAME_AT + nameLen + 1, end) + 1;
  let v = 0;
  let digits = 0;
  for (; at < end; at++) {
    const b = buf[at]!;
    if (b === TAB) break;
    v = v * 16 + (b <= 0x39 ? b - 0x30 : b - 0x37);
    digits++;
  }
  return digits === 0 ? NaN : v;
}

/** Names compared in code-unit order (the index's), from their UTF-8 bytes. */
function compareNames(x: Buffer, xa: number, xl: number, y: Buffer, ya: number, yl: number): number {
  const n = Math.min(xl, yl);
  for (let k = 0; k < n; k++) {
    const a = x[xa + k]!;
    const b = y[ya + k]!;
    if (a === b) continue;
    // Byte order is code-point order, which differs from code-unit order past U+FFFF: decode then.
    if (a >= 0x80 || b >= 0x80) {
      const s = x.toString("utf8", xa, xa + xl);
      const t = y.toString("utf8", ya, ya + yl);
      return s < t ? -1 : s > t ? 1 : 0;
    }
    return a - b;
  }
  return xl - yl;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** A loop, not Buffer.compare: for a name of ~25 bytes the native call cost more than the comparison. */
function sameBytes(x: Buffer, xa: number, y: Buffer, ya: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (x[xa + i] !== y[ya + i]) return false;
  return true;
}

function sameAscii(buf: Buffer, at: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (buf[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** FNV-1a over bytes; hashAscii gives the same value for an ASCII string. */
function hashBytes(buf: Buffer, at: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = at; i < at + len; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h >>> 0;
}

function hashAscii(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Serial keys (doubles: exact below 2^53, and the caller checks the exact serial) to slots,
 * in typed arrays; a key may map to several slots. Removed pairs become tombstones.
 */
class SerialHash {
  private keys = new Float64Array(1024);
  /** Slot + 1; 0 empty, -1 removed. */
  private vals = new Int32Array(1024);
  private used = 0;

  add(key: number, slot: number): void {
    if (Number.isNaN(key)) return;
    if ((this.used + 1) * 2 > this.vals.length) this.resize(this.vals.length * 2);
    const mask = this.vals.length - 1;
    let b = mixKey(key) & mask;
    while (this.vals[b]! > 0) b = (b + 1) & mask;
    if (this.vals[b] === 0) this.used++;
    this.keys[b] = key;
    this.vals[b] = slot + 1;
  }

  remove(key: number, slot: number): void {
    if (Number.isNaN(key)) return;
    const mask = this.vals.length - 1;
    for (let b = mixKey(key) & mask; this.vals[b] !== 0; b = (b + 1) & mask) {
      if (this.vals[b] === slot + 1 && this.keys[b] === key) {
        this.vals[b] = -1;
        return;
      }
    }
  }

  slotsOf(key: number): number[] {
    const out: number[] = [];
    const mask = this.vals.length - 1;
    for (let b = mixKey(key) & mask; this.vals[b] !== 0; b = (b + 1) & mask) {
      if (this.vals[b]! > 0 && this.keys[b] === key) out.push(this.vals[b]! - 1);
    }
    return out;
  }

  private resize(size: number): void {
    const { keys, vals } = this;
    this.keys = new Float64Array(size);
    this.vals = new Int32Array(size);
    this.used = 0;
    for (let b = 0; b < vals.length; b++) if (vals[b]! > 0) this.add(keys[b]!, vals[b]! - 1);
  }
}

function mixKey(key: number): number {
  const lo = key % 4294967296 | 0;
  const hi = Math.floor(key / 4294967296) | 0;
  return (Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b) ^ (lo >>> 13)) >>> 0;
}
