/**
 * inventory.txt by subject, for revoke and clean: they need every line of a few names (a
 * renewal leaves the replaced certificate valid, so its serial must be revoked too), and
 * inventory.txt has a line per certificate ever issued: ~80 MB at 1,000,000.
 *
 * A lookup without a table searches the file's bytes for `" /CN=NAME\n"` (a native memmem
 * over 4 MB reads: ~0.1 s for 80 MB): a CLI revoke is one lookup, and building anything
 * would cost it more. It also starts building, in the background, a table of the subjects'
 * 32-bit hashes, each with the offset of its one line (or "several"); once built, the table
 * is followed by reading only what was appended since, and a lookup reads one line at its
 * offset: a server's revokes cost the same at 1,000,000 certificates as at none. ~12 bytes
 * a line (24 MB at 1,000,000).
 * A subject seen on several lines (a renewed node), a hash shared by two subjects, or a
 * file replaced or shortened falls back to the byte search, or a rebuild.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { isErrno } from "./atomic.js";

const CHUNK = 16 * 1024 * 1024;
const SEARCH_CHUNK = 4 * 1024 * 1024;
/** Offset value for a subject on more than one line. */
const SEVERAL = -1;
/** Bytes read into the table per step of a build. */
const STEP_BYTES = 256 * 1024;

const tables = new Map<string, InventoryNames>();

export class InventoryNames {
  /** One per inventory file per process. */
  static for(path: string): InventoryNames {
    let t = tables.get(path);
    if (!t) tables.set(path, (t = new InventoryNames(path)));
    return t;
  }

  /** Drops this process's table for a file replaced whole (a restore). */
  static forget(path: string): void {
    tables.delete(path);
  }

  private keys = new Int32Array(0);
  private offs = new Float64Array(0);
  private used = 0;
  private ino?: number;
  /** Bytes of the file read into the table: up to the end of its last complete line. */
  private scanned = 0;
  /** The table covers the file `ino` up to `scanned`: lookups may use it. */
  private ready = false;
  /** The build in progress (undefined: none). */
  private building?: Promise<void>;

  private constructor(private readonly path: string) {}

  /** The lines (with their newlines) whose subject is `/CN=NAME` for one of `names`. */
  linesFor(names: readonly string[]): string {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch (err) {
      if (isErrno(err, "ENOENT")) return "";
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!this.ready || st.ino !== this.ino || st.size < this.scanned) {
        // No table yet, or the file was replaced or shortened: search now, build for the next lookups.
        this.ready = false;
        this.build();
        return searchBytes(fd, 0, st.size, names);
      }
      this.follow(fd, st.size, Infinity);
      let out = "";
      for (const name of new Set(names)) {
        const subject = Buffer.from(`/CN=${name}`, "utf8");
        const off = this.lookup(hashOf(subject, 0, subject.length));
        const line = off === undefined ? "" : off === SEVERAL ? undefined : lineAt(fd, off, subject);
        // Several lines, or another subject with the same hash: the whole file for this name.
        out += line ?? searchBytes(fd, 0, this.scanned, [name]);
      }
      // Past the last complete line: being written right now, or Puppet's own last line without one.
      return this.scanned < st.size ? out + searchBytes(fd, this.scanned, st.size, names) : out;
    } finally {
      closeSync(fd);
    }
  }

  /** Resolves when the table is built (tests wait for it; lookups never do). */
  async built(): Promise<void> {
    if (!this.building) return;
    // The build's timers do not hold the process open; whoever waits for it does.
    const hold = setInterval(() => undefined, 1000);
    try {
      await this.building;
    } finally {
      clearInterval(hold);
    }
  }

  /**
   * Builds the table in steps of STEP_BYTES on timers that do not keep the process alive: a
   * server builds it in the background in small slices (~1 ms each here), a CLI command exits
   * without waiting for it. Any failure just leaves lookups on the byte search.
   */
  private build(): void {
    if (this.building) return;
    this.reset(undefined);
    this.building = new Promise<void>((resolve) => {
      const done = () => {
        this.building = undefined;
        resolve();
      };
      const step = () => {
        try {
          const fd = openSync(this.path, "r");
          try {
            const st = fstatSync(fd);
            if (this.ino === undefined) this.ino = st.ino;
            else if (st.ino !== this.ino || st.size < this.scanned) this.reset(st.ino);
            if (this.follow(fd, st.size, STEP_BYTES)) {
              this.ready = true;
              return done();
            }
          } finally {
            closeSync(fd);
          }
          setTimeout(step, 0).unref();
        } catch {
          this.reset(undefined);
          done();
        }
      };
      setTimeout(step, 0).unref();
    });
  }

  private reset(ino: number | undefined): void {
    this.ino = ino;
    this.scanned = 0;
    this.used = 0;
    this.ready = false;
    this.keys = new Int32Array(1 << 16);
    this.offs = new Float64Array(1 << 16);
  }

  /**
   * Reads up to `budget` bytes of lines appended since `scanned` into the table. Returns true
   * when caught up: nothing is left but, at most, a last line without its newline.
   */
  private follow(fd: number, size: number, budget: number): boolean {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, budget, Math.max(0, size - this.scanned)));
    while (this.scanned < size) {
      if (budget <= 0) return false;
      const got = readSync(fd, buf, 0, Math.min(buf.length, size - this.scanned, budget), this.scanned);
      if (got <= 0) return true;
      let from = 0;
      for (let nl = buf.indexOf(0x0a, from); nl >= 0 && nl < got; nl = buf.indexOf(0x0a, from)) {
        const subject = subjectStart(buf, from, nl);
        if (subject >= 0 && nl > subject) this.add(hashOf(buf, subject, nl), this.scanned + from);
        from = nl + 1;
      }
      // No newline in what was read: the file's unterminated last line (or a line too long to
      // be an inventory line); a line cut by the budget is read whole next time.
      if (from === 0) return this.scanned + got >= size || got === buf.length;
      this.scanned += from;
      budget -= from;
    }
    return true;
  }

  private add(hash: number, off: number): void {
    if ((this.used + 1) * 2 > this.keys.length) this.grow();
    const mask = this.keys.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === 0) {
        this.keys[i] = hash;
        this.offs[i] = off;
        this.used++;
        return;
      }
      if (k === hash) {
        this.offs[i] = SEVERAL;
        return;
      }
    }
  }

  private lookup(hash: number): number | undefined {
    const mask = this.keys.length - 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === 0) return undefined;
      if (k === hash) return this.offs[i];
    }
  }

  private grow(): void {
    const keys = this.keys;
    const offs = this.offs;
    this.keys = new Int32Array(keys.length * 2);
    this.offs = new Float64Array(keys.length * 2);
    this.used = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.place(keys[i]!, offs[i]!);
  }

  private place(hash: number, off: number): void {
    const mask = this.keys.length - 1;
    let i = hash & mask;
    while (this.keys[i] !== 0) i = (i + 1) & mask;
    this.keys[i] = hash;
    this.offs[i] = off;
    this.used++;
  }
}

/** Where the subject starts: after the third space (`0xSERIAL NOT-BEFORE NOT-AFTER SUBJECT`), or -1. */
function subjectStart(buf: Buffer, from: number, end: number): number {
  let at = from;
  for (let k = 0; k < 3; k++) {
    at = buf.indexOf(0x20, at);
    if (at < 0 || at >= end) return -1;
    at++;
  }
  return at;
}

/** FNV-1a over buf[from, end), never 0 (0 marks an empty slot). */
function hashOf(buf: Uint8Array, from: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h === 0 ? 1 : h | 0;
}

/** The line at `off` if its subject is `subject` (with its newline); undefined if another subject hashes the same. */
function lineAt(fd: number, off: number, subject: Buffer): string | undefined {
  const buf = Buffer.allocUnsafe(4096);
  const got = readSync(fd, buf, 0, buf.length, off);
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl >= got) return undefined;
  const s = subjectStart(buf, 0, nl);
  return s >= 0 && nl - s === subject.length && buf.subarray(s, nl).equals(subject) ? buf.toString("utf8", 0, nl + 1) : undefined;
}

/**
 * Lines of bytes [from, to) whose subject is `/CN=NAME`, searched for as bytes in chunks of
 * whole lines (one buffer reused: 80 MB read at once cost as much in allocation as in the
 * search). A last line may lack its newline.
 */
function searchBytes(fd: number, from: number, to: number, names: readonly string[]): string {
  if (to <= from) return "";
  const needles = [...new Set(names)].map((name) => ({ full: Buffer.from(` /CN=${name}\n`, "utf8"), tail: Buffer.from(` /CN=${name}`, "utf8") }));
  const buf = Buffer.allocUnsafe(Math.min(SEARCH_CHUNK, to - from));
  const lines: string[] = [];
  for (let pos = from; pos < to; ) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
    if (got <= 0) break;
    const last = pos + got >= to;
    // Whole lines only, but for the file's last piece (which may end without a newline).
    const end = last ? got : buf.subarray(0, got).lastIndexOf(0x0a) + 1;
    if (end === 0) break; // a line longer than a chunk is not an inventory line
    const text = buf.subarray(0, end);
    for (const { full, tail } of needles) {
      for (let at = text.indexOf(full); at >= 0; at = text.indexOf(full, at + full.length)) {
        lines.push(text.toString("utf8", text.lastIndexOf(0x0a, at) + 1, at + full.length));
      }
      if (last && text[text.length - 1] !== 0x0a && text.length >= tail.length && text.subarray(text.length - tail.length).equals(tail)) {
        lines.push(`${text.toString("utf8", text.lastIndexOf(0x0a, text.length - 1) + 1)}\n`);
      }
    }
    pos += end;
  }
  return lines.join("");
}
