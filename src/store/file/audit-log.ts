/**
 * audit.log: fleetca's audit trail in the CA directory, one JSON object per line, append-only
 * (Puppet's tools ignore it). Mode 0640, as inventory.txt.
 *
 * Appends are group-committed: callers that arrive while a write+fsync is running are
 * written together by the next one, so under load many records share one fsync. A signing
 * batch or a batch of submitted requests hands its records over as one append, started
 * beside the batch's other durable writes (index.ts), so auditing adds no fsync round of
 * its own to the enrollment path.
 *
 * Crash safety: each append is one write(2) with O_APPEND, then fsync. A crash can leave a
 * last line without its newline; readers skip it, and the next append starts on a fresh
 * line (appendLog). A line damaged some other way is skipped, and a record glued after a
 * fragment (an older writer without that care) is still found from its `{"time":`.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { auditMatches, type AuditQuery, type AuditRecord } from "../../ca/store.js";
import { GroupCommit } from "../../lib/group-commit.js";
import { appendLog, isErrno } from "./atomic.js";
import { MODES } from "./layout.js";

/** One log per file per process, so every FileStore on a CA directory shares its batches. */
const logs = new Map<string, AuditLog>();

/** Read backwards in pieces of this size, so "the last 50 records" does not read a year of them. */
const CHUNK = 1 << 20;

export class AuditLog {
  /** Drops this process's instance for a directory whose files were replaced whole (a restore). */
  static forget(key: string): void {
    logs.delete(key);
  }

  static for(path: string): AuditLog {
    let log = logs.get(path);
    if (!log) logs.set(path, (log = new AuditLog(path)));
    return log;
  }

  /** Each item is the text of one caller's records; a flush writes them all in one append. */
  private readonly commits = new GroupCommit<string, void>(async (texts) => {
    await appendLog(this.path, texts.join(""), MODES.records);
    return texts.map(() => undefined);
  }, 1024);

  private constructor(readonly path: string) {}

  /** Appends the records durably (resolves once they are fsynced), sharing the write with concurrent callers. */
  async append(records: readonly AuditRecord[]): Promise<void> {
    await this.write(encodeAudit(records));
  }

  /**
   * append() for lines encoded beforehand (encodeAudit): a caller writing other files beside
   * them encodes first, so a record that cannot be written fails the call before anything is.
   */
  async write(lines: string): Promise<void> {
    if (lines === "") return;
    await this.commits.add(lines);
  }

  /**
   * The records matching `query`, oldest first; with `limit`, the most recent that many.
   * The file is read from its end, so a limited query stops once it has enough.
   */
  read(query: AuditQuery): AuditRecord[] {
    const limit = query.limit;
    if (limit !== undefined && limit <= 0) return [];
    // A record naming `name` has it in the line exactly as JSON.stringify wrote it: lines
    // without it are skipped unparsed.
    const needle = query.name === undefined ? undefined : JSON.stringify(query.name);
    const out: AuditRecord[] = [];
    for (const line of linesBackward(this.path)) {
      if (needle !== undefined && !line.includes(needle)) continue;
      const r = decodeAuditLine(line);
      if (!r || !auditMatches(r, query)) continue;
      out.push(r);
      if (limit !== undefined && out.length >= limit) break;
    }
    return out.reverse();
  }
}

/** The records as audit.log lines ("" for none). Throws for a record that cannot be encoded. */
export function encodeAudit(records: readonly AuditRecord[]): string {
  let out = "";
  for (const r of records) out += encodeAuditLine(r);
  return out;
}

/** One line: the record's fields in a fixed order, `time` first (the salvage marker). */
export function encodeAuditLine(r: AuditRecord): string {
  const o: Record<string, unknown> = {
    time: r.time,
    action: r.action,
    outcome: r.outcome,
    names: r.names,
    serials: r.serials,
    who: r.who,
    whoKind: r.whoKind,
    from: r.from,
  };
  if (r.reason !== undefined) o.reason = r.reason;
  if (r.detail !== undefined) o.detail = r.detail;
  // JSON.stringify escapes every control character, so a line never holds a raw newline.
  return `${JSON.stringify(o)}\n`;
}

const MARK = '{"time":';

/** The record on a line, or undefined for a line that is not one (damaged, or not ours). */
export function decodeAuditLine(line: string): AuditRecord | undefined {
  const r = toRecord(parse(line));
  if (r) return r;
  const at = line.lastIndexOf(MARK);
  return at > 0 ? toRecord(parse(line.slice(at))) : undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

function toRecord(v: unknown): AuditRecord | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const { time, action, outcome, names, serials, who, whoKind, from, reason, detail } = o;
  if (typeof time !== "string" || typeof action !== "string" || typeof outcome !== "string") return undefined;
  if (!isStrings(names) || !isStrings(serials)) return undefined;
  if (typeof who !== "string" || typeof whoKind !== "string" || typeof from !== "string") return undefined;
  // Values a newer fleetca may add (an action, a principal kind) are passed on as written.
  const r = { time, action, outcome, names, serials, who, whoKind, from } as AuditRecord & { reason?: string; detail?: string };
  if (typeof reason === "string") r.reason = reason;
  if (typeof detail === "string") r.detail = detail;
  return r;
}

/**
 * The file's complete lines, last first, read in `chunk`-byte pieces from the end. What follows
 * the last newline is a line being written right now or torn by a crash: not yielded.
 * A missing file has no lines.
 */
export function* linesBackward(path: string, chunk = CHUNK): Generator<string> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  try {
    let pos = fstatSync(fd).size;
    /** Bytes from the start of the piece read before: the end of a line that began earlier. */
    let carry: Buffer = Buffer.alloc(0);
    let sawEnd = false;
    while (pos > 0) {
      const n = Math.min(chunk, pos);
      pos -= n;
      const piece = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const r = readSync(fd, piece, got, n - got, pos + got);
        if (r === 0) break;
        got += r;
      }
      const buf = carry.length > 0 ? Buffer.concat([piece.subarray(0, got), carry]) : piece.subarray(0, got);
      let end = buf.length;
      if (!sawEnd) {
        // Cut the unterminated tail, which may be longer than one piece.
        end = buf.lastIndexOf(0x0a) + 1;
        if (end === 0) {
          carry = buf;
          continue;
        }
        sawEnd = true;
      }
      // Until the start of the file, the first line in the piece may have begun before it
      // (buf ends with a newline here, so there is one to find).
      const start = pos > 0 ? buf.indexOf(0x0a) + 1 : 0;
      carry = buf.subarray(0, start);
      // buf[end - 1] is a newline; walk back from it.
      let j = end - 1;
      while (j >= start) {
        const i = j > start ? buf.lastIndexOf(0x0a, j - 1) : -1;
        const from = Math.max(i + 1, start);
        if (from < j) yield buf.toString("utf8", from, j);
        if (i < start) break;
        j = i;
      }
    }
  } finally {
    closeSync(fd);
  }
}
