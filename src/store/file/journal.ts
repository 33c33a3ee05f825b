/**
 * The index journal, fleetca_index.jsonl: an append-only log of what requests/ and
 * signed/ contain, so that listing 100,000 certificates reads one file instead of
 * parsing 100,000 PEM files. It is a cache: deleting it makes the store rebuild it from
 * the directories (parsing every PEM once).
 *
 * Several processes (the server, CLI invocations) append to it with O_APPEND and follow
 * each other by reading from the offset they last reached. Compaction replaces it by
 * rename, which readers notice as a new inode or a new generation in the header line.
 *
 * The name is historical: records are tab-separated lines now (journal-tsv.ts); the JSON
 * lines earlier versions wrote are still read, and a journal with many of them is compacted.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import type { IndexEntry } from "../../ca/store.js";
import { appendLine, isErrno, writeFileAtomic } from "./atomic.js";
import { decodeTsv, encodeTsv, isEmpty, NO_EXTENSIONS, NO_NAMES, parseObject, RS } from "./journal-tsv.js";
import type { Kind } from "./layout.js";

/** An index entry plus what the store saw of its file, to notice a file replaced by another tool. */
export interface IndexRecord {
  entry: IndexEntry;
  size: number;
  mtimeMs: number;
}

export type JournalRecord =
  /** `dir`: the directory's mtime right after this write, when the writer knew the directory was in sync before it. */
  | { op: "put"; kind: Kind; rec: IndexRecord; dir?: string; inv?: number }
  | { op: "del"; kind: Kind; name: string; dir?: string }
  /** `settled`: the mtime was old enough when seen that no later change can share it (see index-cache.ts). */
  | { op: "dir"; kind: Kind; mtimeNs: string; settled: boolean }
  /** Size of inventory.txt once signed/ was known to be in sync with it. */
  | { op: "inv"; size: number };

/** One journal line (without its newline): tab-separated (journal-tsv.ts), or JSON when a field needs it. */
export function encodeRecord(r: JournalRecord): string {
  return encodeTsv(r) ?? encodeJson(r);
}

/** The JSON form of a record, as versions before the tab-separated lines wrote every record. */
function encodeJson(r: JournalRecord): string {
  switch (r.op) {
    case "put": {
      const e = r.rec.entry;
      return JSON.stringify({
        op: "put",
        kind: r.kind,
        name: e.name,
        sha256: e.sha256,
        altNames: e.altNames,
        authExtensions: e.authExtensions,
        serial: e.serial === undefined ? undefined : e.serial.toString(16).toUpperCase(),
        notBefore: e.notBefore?.toISOString(),
        notAfter: e.notAfter?.toISOString(),
        size: r.rec.size,
        mtimeMs: r.rec.mtimeMs,
        dir: r.dir,
        inv: r.inv,
      });
    }
    case "del":
      return JSON.stringify({ op: "del", kind: r.kind, name: r.name, dir: r.dir });
    case "dir":
      return JSON.stringify(r);
    case "inv":
      return JSON.stringify(r);
  }
}

/** Builds the frozen entry the cache hands out; state follows the directory, not the caller. */
export function makeEntry(kind: Kind, name: string, e: Omit<IndexEntry, "name" | "state">): IndexEntry {
  const entry: IndexEntry = {
    name,
    state: kind === "request" ? "requested" : "signed",
    sha256: e.sha256,
    altNames: Object.freeze([...e.altNames]) as string[],
    authExtensions: Object.freeze({ ...e.authExtensions }),
  };
  if (e.serial !== undefined) entry.serial = e.serial;
  if (e.notBefore !== undefined) entry.notBefore = e.notBefore;
  if (e.notAfter !== undefined) entry.notAfter = e.notAfter;
  return Object.freeze(entry);
}

type Raw = Record<string, unknown>;

function decodeObject(o: Raw): JournalRecord | undefined {
  const kind = o.kind;
  if (o.op === "inv") return typeof o.size === "number" ? { op: "inv", size: o.size } : undefined;
  if (kind !== "request" && kind !== "certificate") return undefined;
  const dir = typeof o.dir === "string" ? o.dir : undefined;
  switch (o.op) {
    case "del":
      return typeof o.name === "string" ? { op: "del", kind, name: o.name, dir } : undefined;
    case "dir":
      return typeof o.mtimeNs === "string" ? { op: "dir", kind, mtimeNs: o.mtimeNs, settled: o.settled === true } : undefined;
    case "put": {
      if (typeof o.name !== "string" || typeof o.sha256 !== "string" || !Array.isArray(o.altNames)) return undefined;
      // Built directly rather than through makeEntry: the values are fresh from JSON.parse, so
      // copying them again would only slow down loading 100,000 lines.
      const auth = typeof o.authExtensions === "object" && o.authExtensions !== null ? o.authExtensions : {};
      const entry: IndexEntry = {
        name: o.name,
        state: kind === "request" ? "requested" : "signed",
        sha256: o.sha256,
        // Most entries have neither: sharing one frozen empty value saves 200,000 freezes per 100,000 lines.
        altNames: o.altNames.length === 0 ? NO_NAMES : (Object.freeze(o.altNames) as string[]),
        authExtensions: isEmpty(auth) ? NO_EXTENSIONS : (Object.freeze(auth) as Record<string, string>),
      };
      if (typeof o.serial === "string") entry.serial = BigInt(`0x${o.serial}`);
      if (typeof o.notBefore === "string") entry.notBefore = parseDate(o.notBefore, 0);
      if (typeof o.notAfter === "string") entry.notAfter = parseDate(o.notAfter, 1);
      const rec = { entry: Object.freeze(entry), size: Number(o.size), mtimeMs: Number(o.mtimeMs) };
      return { op: "put", kind, rec, dir, inv: typeof o.inv === "number" ? o.inv : undefined };
    }
  }
  return undefined;
}

/** The last text parsed and its time, for notBefore ([0]) and notAfter ([1]). */
const lastDate: [string, number][] = [
  ["", NaN],
  ["", NaN],
];

/**
 * `new Date(text)`, remembering the last text parsed for each field: certificates signed
 * together share their notBefore and notAfter (times have whole seconds), and the date
 * parser was a tenth of loading 100,000 lines. Each entry still gets its own Date.
 */
function parseDate(text: string, field: 0 | 1): Date {
  const last = lastDate[field]!;
  if (text !== last[0]) {
    last[1] = Date.parse(text);
    last[0] = text;
  }
  return new Date(last[1]);
}

/**
 * Decodes one line. A line torn by a crash, with the next writer's line glued after it,
 * still yields that next record: it starts at the last RS, or the last `{"op":` for JSON.
 */
export function decodeLine(line: string): JournalRecord | undefined {
  const rs = line.lastIndexOf(RS);
  if (rs >= 0) {
    const r = decodeTsv(line, rs);
    if (r) return r;
  }
  const o = parseObject(line);
  if (o) return decodeObject(o);
  const start = line.lastIndexOf('{"op":');
  const salvaged = start > 0 && start > rs ? parseObject(line.slice(start)) : undefined;
  return salvaged ? decodeObject(salvaged) : undefined;
}

const HEADER_OP = "hdr";
/**
 * How much of the journal is read at a time (whole lines), into one buffer reused for every
 * chunk. Small on purpose: memory a process touches for the first time is what a load of
 * 1,000,000 lines mostly paid for (~4 ms per MB on this VM's fresh pages, against ~0.1 ms per MB
 * to read and scan once touched); 32 MB chunks cost ~0.3 s more than 1 MB ones.
 */
const READ_CHUNK = 1024 * 1024;

/** Follows the journal file: where this process has read up to, and in which generation. */
export class JournalFile {
  private ino?: number;
  private offset = 0;
  private gen?: string;
  /** Lines in the current file as far as read: compaction compares it with the live entries. */
  lineCount = 0;
  /** Of those, the JSON lines (written by an older fleetca): compaction rewrites them in the faster form. */
  jsonLines = 0;

  constructor(readonly path: string) {}

  /**
   * Hands the records added since the last call to `onRecord`, one by one (collecting
   * 100,000 of them first kept each alive through several garbage collections). Returns
   * `reset` when the file was replaced, removed or read for the first time: `onReset` then
   * ran before any record, and the caller must rebuild its state from the records that follow.
   * `onPutLine`, when given, is offered each tab-separated put line as bytes first (`start` at
   * its RS, `end` at its newline; the buffer is reused after the call): it returns true when it
   * took the line, and the line is then not decoded as text (index-cache.ts packs it as it is).
   */
  async readNew(
    /** Told the bytes about to be read. */
    onReset: (bytes: number) => void,
    onRecord: (r: JournalRecord) => void,
    onPutLine?: (buf: Buffer, start: number, end: number) => boolean,
  ): Promise<{ reset: boolean; records: number }> {
    // Synchronous reads: this runs inside the index mutex on every refresh, where each
    // awaited call would wait for a busy server's event loop (see atomic.ts).
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (!st) {
      const reset = this.ino !== undefined;
      this.forget();
      if (reset) onReset(0);
      return { reset, records: 0 };
    }
    if (st.ino === this.ino && st.size === this.offset) return { reset: false, records: 0 };
    const fd = openSync(this.path, "r");
    try {
      // Decide on what was opened: the path may have been replaced since the stat above.
      const fst = fstatSync(fd);
      const same = fst.ino === this.ino && fst.size >= this.offset && readGenSync(fd) === this.gen;
      if (!same) {
        this.forget();
        onReset(fst.size);
      }
      // Read in chunks of whole lines: one string of a 190 MB journal (1,000,000 entries) was
      // slow to decode under memory pressure, and past ~512 MB V8 cannot make the string at all.
      const total = Math.max(0, fst.size - this.offset);
      let buf = Buffer.allocUnsafe(Math.min(total, READ_CHUNK));
      let done = 0;
      let records = 0;
      while (done < total) {
        const got = readSync(fd, buf, 0, Math.min(buf.length, total - done), this.offset + done);
        if (got <= 0) break;
        // Stop at the last newline: what follows is being written right now, or was torn by a crash.
        const end = buf.subarray(0, got).lastIndexOf(0x0a) + 1;
        if (end === 0) {
          if (got < buf.length) break; // the unfinished last line
          buf = Buffer.allocUnsafe(buf.length * 2); // a line longer than the buffer: again, with room for it
          continue;
        }
        // Lines are found in the bytes: decoding 190 MB to text first was most of a load.
        for (let from = 0, nl = buf.indexOf(0x0a, 0); nl >= 0 && nl < end; from = nl + 1, nl = buf.indexOf(0x0a, from)) {
          if (nl === from) continue;
          this.lineCount++;
          if (this.gen === undefined) {
            // First line of a file read from the start: the header, or a file without one.
            this.gen = headerGen(buf.toString("utf8", from, nl)) ?? "";
            if (this.gen !== "") continue;
          }
          const first = buf[from];
          if (first === 0x7b) this.jsonLines++;
          if (onPutLine && first === 0x1e && buf[from + 1] === 0x50 && onPutLine(buf, from, nl)) {
            records++;
            continue;
          }
          const r = decodeLine(buf.toString("utf8", from, nl));
          if (r) {
            records++;
            onRecord(r);
          }
        }
        done += end;
      }
      this.ino = fst.ino;
      this.offset += done;
      return { reset: !same, records };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * What the last record about `kind`'s directory among the journal's last `window` bytes
   * says of it (its mtime, and whether settled), without reading the rest: undefined when
   * none is there. A hint only (index-cache.ts reads a directory's names ahead on it); the
   * index's state is what readNew gives.
   */
  peekDirMark(kind: Kind, window = 64 * 1024): { mtimeNs: string; settled: boolean } | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return undefined;
    }
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(Math.min(size, window));
      const got = readSync(fd, buf, 0, buf.length, size - buf.length);
      // Whole lines only: the first may have been cut by the window.
      const lines = buf.toString("utf8", 0, got).split("\n").slice(size > got ? 1 : 0);
      for (let i = lines.length - 1; i >= 0; i--) {
        const r = lines[i] === "" ? undefined : decodeLine(lines[i]!);
        if (r?.op === "dir" && r.kind === kind) return { mtimeNs: r.mtimeNs, settled: r.settled };
        if ((r?.op === "put" || r?.op === "del") && r.kind === kind && r.dir !== undefined) return { mtimeNs: r.dir, settled: false };
      }
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Appends records in one write; creates the file with a header first if needed. */
  async append(records: JournalRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.ino === undefined) {
      const fh = await open(this.path, "wx", 0o644).catch((err: unknown) => {
        if (isErrno(err, "EEXIST")) return undefined;
        throw err;
      });
      if (fh) {
        const gen = randomBytes(8).toString("hex");
        const text = header(gen);
        try {
          await fh.writeFile(text);
          // Ours and empty: start following it at once, so our own lines are not read back.
          this.ino = (await fh.stat()).ino;
          this.offset = Buffer.byteLength(text);
          this.gen = gen;
          this.lineCount = 1;
        } finally {
          await fh.close();
        }
      }
    }
    const text = records.map((r) => `${encodeRecord(r)}\n`).join("");
    // Not fsynced: this is a cache checked against the directories on every refresh, so lines a
    // power cut loses are found again from the files (the durable record is commit-journal.ts).
    const st = await appendLine(this.path, text, 0o644, { sync: false });
    // Nobody appended since our last read: skip our own lines instead of parsing them back
    // (after a rebuild that is 100,000 lines).
    if (st.ino === this.ino && st.size === this.offset + Buffer.byteLength(text)) {
      this.offset = st.size;
      this.lineCount += records.length;
    }
  }

  /**
   * Rewrites the journal as `lines` (the caller's state as whole lines, caught up just
   * before). Lines another process appended to the old file after our last read are copied
   * over, so they are not lost with the old inode.
   */
  async compact(lines: Buffer[]): Promise<void> {
    const old = await open(this.path, "r").catch(() => undefined);
    const gen = randomBytes(8).toString("hex");
    const text = Buffer.concat([Buffer.from(header(gen), "utf8"), ...lines]);
    let count = 0;
    for (const chunk of lines) for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, nl + 1)) count++;
    try {
      const st = await writeFileAtomic(this.path, text, 0o644);
      let tail = "";
      const ost = await old?.stat();
      if (old && ost && ost.ino === this.ino) {
        const size = ost.size;
        const buf = Buffer.allocUnsafe(Math.max(0, size - this.offset));
        const { bytesRead } = await old.read(buf, 0, buf.length, this.offset);
        tail = buf.toString("utf8", 0, buf.subarray(0, bytesRead).lastIndexOf(0x0a) + 1);
      }
      this.ino = st.ino;
      this.offset = text.length;
      this.gen = gen;
      this.lineCount = count + 1;
      this.jsonLines = 0;
      // Read back (and applied) by the next readNew, like any other process's appends.
      if (tail !== "") await appendLine(this.path, tail);
    } finally {
      await old?.close();
    }
  }

  private forget(): void {
    this.ino = undefined;
    this.offset = 0;
    this.gen = undefined;
    this.lineCount = 0;
    this.jsonLines = 0;
  }
}

function readGenSync(fd: number): string {
  const buf = Buffer.alloc(128);
  const bytesRead = readSync(fd, buf, 0, buf.length, 0);
  const text = buf.toString("utf8", 0, bytesRead);
  return headerGen(text.slice(0, text.indexOf("\n") + 1 || undefined)) ?? "";
}

function header(gen: string): string {
  return `${JSON.stringify({ op: HEADER_OP, gen })}\n`;
}

function headerGen(line: string): string | undefined {
  const m = /^\{"op":"hdr","gen":"([0-9a-f]+)"\}\s*$/.exec(line);
  return m?.[1];
}
