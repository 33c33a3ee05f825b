/** `fleetca ca list [--all] [--format json]`: the seed's `puppet cert list` output. */
import type { Command } from "commander";
import type { CertStatus } from "../../ca/status.js";
import { expiryWarnings } from "../../ca/lifecycle/expiry.js";
import { letNewRequestIn, type Supersession } from "../../ca/superseded.js";
import { isIndexRowsStore, type IndexRows } from "../../ca/store.js";
import { summarize } from "../../ca/summarize.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

/** What a line shows of an entry; a CertStatus has these fields, and so does what `list` builds. */
type Listed = Pick<CertStatus, "name" | "state" | "fingerprint" | "subject_alt_names">;

/**
 * One line per entry, as `puppet cert list` printed it: the quoted name padded to the
 * widest name plus one space, "(SHA256)" and the fingerprint, then alt names (sorted)
 * when present. With --all, signed lines start with "+ ", revoked with "- " and carry
 * "(certificate revoked)", requests with two spaces.
 */
export function renderList(entries: Listed[], all: boolean): string[] {
  return [...renderChunks(entries.length, (i) => entries[i]!, all, 1)];
}

/** What `list` adds to a pending request superseded by a refused newer one (a node that lost its key). */
export function supersededNote(name: string, s: Supersession): string {
  return ` (superseded: a newer request with another key, SHA256 ${s.refused}, was refused at ${s.time}; to let it in: ${letNewRequestIn(name)})`;
}

/**
 * renderList's lines joined by "\n" in chunks of up to `perChunk` lines, each made when
 * asked (a caller writes one before the next is made: a million lines held at once were
 * 130 MB). The entries are fetched by index so that `list` can format straight from the
 * store's entries, without building 100,000 intermediate objects first.
 */
function* renderChunks(count: number, at: (i: number) => Listed, all: boolean, perChunk: number, notes?: ReadonlyMap<string, string>): Generator<string> {
  // A loop, not Math.max(...): 100,000 arguments, and one array fewer.
  let widest = 0;
  for (let i = 0; i < count; i++) widest = Math.max(widest, at(i).name.length);
  const width = widest + 3;
  const spaces = " ".repeat(width);
  let lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(formatLine(at(i), all, width, spaces, notes));
    if (lines.length >= perChunk) {
      yield lines.join("\n");
      lines = [];
    }
  }
  if (lines.length > 0) yield lines.join("\n");
}

/** One line of renderList (`width`: the widest name plus 3; `spaces`: that many spaces). */
function formatLine(e: Listed, all: boolean, width: number, spaces: string, notes?: ReadonlyMap<string, string>): string {
  const prefix = !all ? "" : e.state === "signed" ? "+ " : e.state === "revoked" ? "- " : "  ";
  // `"name"` padded with spaces to `width` (at least none), as padEnd did, without the intermediate strings.
  let line = `${prefix}"${e.name}"${spaces.slice(Math.min(width, e.name.length + 2))}(SHA256) ${e.fingerprint}`;
  const names = e.subject_alt_names;
  // The usual single "DNS:<name>" is checked without copying, sorting or building strings.
  const onlyOwnName = names.length === 1 && names[0]!.length === e.name.length + 4 && names[0]!.startsWith("DNS:") && names[0]!.endsWith(e.name);
  if (names.length > 0 && !onlyOwnName) line += ` (alt names: ${[...names].sort().map((a) => `"${a}"`).join(", ")})`;
  if (e.state === "revoked") line += " (certificate revoked)";
  if (notes !== undefined && e.state === "requested") line += notes.get(e.name) ?? "";
  return line;
}

/**
 * renderChunks for IndexRows, as bytes: the usual line's name and fingerprint are copied
 * from the store's bytes, no string made (at 1,000,000 lines the strings, and the stream
 * encoding them back, were most of the printing). Lines with more to say (alt names,
 * revoked, a note) are formatted by formatLine. Chunks of ~1 MB, each ending in a newline,
 * made alternately in two buffers: a chunk's buffer is filled again only after `written`
 * says the chunk before last is out, so the next chunk is made while the reader reads.
 */
async function writeRowChunks(requests: IndexRows, certificates: IndexRows | undefined, revoked: ReadonlySet<bigint>, all: boolean, notes: ReadonlyMap<string, string>, write: (chunk: Buffer) => Promise<void>): Promise<void> {
  const { count, at, rowAt, isRevoked } = mergedRows(requests, certificates, revoked);
  const scratch = Buffer.allocUnsafe(64 * 1024);
  /** The name's length in UTF-16 code units (its byte count when it is ASCII). */
  const units = (rows: IndexRows, i: number): number => {
    const end = rows.copyName(i, scratch, 0);
    if (end < 0) return rows.name(i).length;
    for (let k = 0; k < end; k++) if (scratch[k]! >= 0x80) return rows.name(i).length;
    return end;
  };
  let widest = 0;
  for (let k = 0; k < count; k++) {
    const [rows, i] = rowAt(k);
    widest = Math.max(widest, units(rows, i));
  }
  const width = widest + 3;
  const spaces = " ".repeat(width);
  const LIMIT = 1 << 20;
  const buffers = [Buffer.allocUnsafe(LIMIT + 64 * 1024), Buffer.allocUnsafe(LIMIT + 64 * 1024)];
  const inFlight: (Promise<void> | undefined)[] = [undefined, undefined];
  let current = 0;
  let out = buffers[0]!;
  let n = 0;
  const flush = async (): Promise<void> => {
    inFlight[current] = write(out.subarray(0, n));
    current ^= 1;
    await inFlight[current];
    out = buffers[current]!;
    n = 0;
  };
  for (let k = 0; k < count; k++) {
    if (n >= LIMIT) await flush();
    const [rows, i] = rowAt(k);
    const isRequest = rows === requests;
    let done = -1;
    // Only the usual line is written as bytes: no name or fingerprint string is made for it.
    if (!(!isRequest && isRevoked(i)) && rows.plainAltNames(i) && !(isRequest && notes.size > 0 && notes.has(rows.name(i)))) {
      let p = n;
      if (all) {
        out[p++] = isRequest ? 0x20 : 0x2b;
        out[p++] = 0x20;
      }
      out[p++] = 0x22;
      const afterName = rows.copyName(i, out, p);
      if (afterName >= 0) {
        const nameBytes = afterName - p;
        let nonAscii = false;
        for (let q = p; q < afterName; q++) if (out[q]! >= 0x80) nonAscii = true;
        p = afterName;
        out[p++] = 0x22;
        const used = (nonAscii ? rows.name(i).length : nameBytes) + 2;
        for (let pad = used; pad < width; pad++) out[p++] = 0x20;
        p += out.write("(SHA256) ", p, "latin1");
        // Room for the fingerprint and the newline, or the line is made as text below.
        const afterSha = p + 200 < out.length ? rows.copySha256(i, out, p) : -1;
        if (afterSha >= 0) done = afterSha;
      }
    }
    if (done < 0) {
      const line = formatLine(at(k), all, width, spaces, notes);
      const bytes = Buffer.byteLength(line);
      if (n + bytes + 1 > out.length) {
        // A line longer than the room left (alt names by the thousand): this buffer grows for good.
        const bigger = Buffer.allocUnsafe(n + bytes + 64 * 1024);
        out.copy(bigger, 0, 0, n);
        out = buffers[current] = bigger;
      }
      done = n + out.write(line, n, "utf8");
    }
    out[done] = 0x0a;
    n = done + 1;
  }
  if (n > 0) await flush();
  await Promise.all(inFlight);
}

/** Only the alt names `list` shows (DNS and IP); the common case returns the entry's own frozen array. */
function shownAltNames(altNames: string[]): string[] {
  if (altNames.length === 0) return altNames;
  for (const n of altNames) if (!n.startsWith("DNS:") && !n.startsWith("IP:")) return altNames.filter((a) => a.startsWith("DNS:") || a.startsWith("IP:"));
  return altNames;
}

/**
 * Requests and certificates merged in name order (a request before a certificate of the
 * same name), read through one reused row as renderChunks does.
 */
function mergedRows(requests: IndexRows, certificates: IndexRows | undefined, revoked: ReadonlySet<bigint>): { count: number; at: (i: number) => Listed; rowAt: (k: number) => [IndexRows, number]; isRevoked: (i: number) => boolean } {
  const certs = certificates?.size ?? 0;
  const count = requests.size + certs;
  // Position k of the listing: a request's index, or a certificate's index + requests.size.
  const order = new Int32Array(count);
  if (certs === 0) for (let k = 0; k < count; k++) order[k] = k;
  else {
    let i = 0;
    let j = 0;
    let k = 0;
    let req = i < requests.size ? requests.name(i) : undefined;
    while (k < count) {
      if (req !== undefined && (j >= certs || req <= certificates!.name(j))) {
        order[k++] = i++;
        req = i < requests.size ? requests.name(i) : undefined;
      } else order[k++] = requests.size + j++;
    }
  }
  // Revoked serials as doubles where exact: the usual serial is checked without a bigint.
  const keys = new Set<number>();
  for (const s of revoked) if (s <= BigInt(Number.MAX_SAFE_INTEGER)) keys.add(Number(s));
  /** Whether certificate i is revoked. */
  const isRevoked = (i: number): boolean => {
    if (revoked.size === 0) return false;
    const key = certificates!.serialKey(i);
    return !Number.isNaN(key) && (key <= Number.MAX_SAFE_INTEGER ? keys.has(key) : revoked.has(certificates!.serial(i)!));
  };
  const row: Listed = { name: "", state: "signed", fingerprint: "", subject_alt_names: [] };
  const none: string[] = [];
  const at = (k: number): Listed => {
    const p = order[k]!;
    const rows = p < requests.size ? requests : certificates!;
    const i = p < requests.size ? p : p - requests.size;
    row.name = rows.name(i);
    row.fingerprint = rows.sha256(i);
    row.subject_alt_names = rows.plainAltNames(i) ? none : shownAltNames(rows.entry(i).altNames);
    row.state = rows === requests ? "requested" : isRevoked(i) ? "revoked" : "signed";
    return row;
  };
  const pair: [IndexRows, number] = [requests, 0];
  const rowAt = (k: number): [IndexRows, number] => {
    const p = order[k]!;
    pair[0] = p < requests.size ? requests : certificates!;
    pair[1] = p < requests.size ? p : p - requests.size;
    return pair;
  };
  return { count, at, rowAt, isRevoked };
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("list").description("list pending certificate requests (--all: every certificate)"))
    .option("-a, --all", "include signed and revoked certificates")
    .option("--format <format>", "text (default) or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { all?: boolean; format: string };
        if (opts.format !== "text" && opts.format !== "json") {
          io.err(`Error: --format must be text or json, not "${opts.format}"`);
          return Exit.USAGE;
        }
        const { ca: authority } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const wanted = opts.all ? undefined : "requested";
        // Within 90 days of the CA certificate's or the CRL's end: said before anything else.
        const warnings = expiryWarnings(await authority.current(), new Date());
        if (opts.format === "text") for (const w of warnings) io.err(w.message);
        if (opts.format === "json") {
          const grouped: Record<string, CertStatus[]> = { requested: [] };
          if (opts.all) Object.assign(grouped, { signed: [], revoked: [] });
          const superseded = await authority.supersededRequests();
          for (const e of await authority.statuses(wanted)) {
            const s = e.state === "requested" ? superseded.get(e.name) : undefined;
            grouped[e.state]!.push(s ? { ...e, superseded_by: { sha256: s.refused, refused_at: s.time, fix: letNewRequestIn(e.name) } } as CertStatus : e);
          }
          io.out(JSON.stringify(warnings.length > 0 ? { ...grouped, expiryWarnings: warnings } : grouped));
        } else if (isIndexRowsStore(authority.store)) {
          // The store's index read by position: at 1,000,000 certificates, making an entry
          // object per certificate (and its state's wrapper) was most of the time left.
          const requests = await authority.store.indexRows("request", summarize);
          const certificates = opts.all ? await authority.store.indexRows("certificate", summarize) : undefined;
          if (requests.size + (certificates?.size ?? 0) === 0 && !opts.all) io.err("No certificate requests are pending.");
          const notes = new Map<string, string>();
          if (requests.size > 0) for (const [name, s] of await authority.supersededRequests()) notes.set(name, supersededNote(name, s));
          // Without a byte sink, each chunk goes out as the text out() takes (its last newline is out()'s).
          const write = io.outBytes ? (b: Buffer) => io.outBytes!(b) : async (b: Buffer) => io.out(b.toString("utf8", 0, b.length - 1));
          await writeRowChunks(requests, certificates, await authority.revokedSerials(), Boolean(opts.all), notes, write);
        } else {
          // Sorted by name already (the store's index is); only the fields printed are read.
          const entries = await authority.entries(wanted);
          const row: Listed = { name: "", state: "signed", fingerprint: "", subject_alt_names: [] };
          const at = (i: number): Listed => {
            const { entry, state } = entries[i]!;
            row.name = entry.name;
            row.state = state;
            row.fingerprint = entry.sha256;
            row.subject_alt_names = shownAltNames(entry.altNames);
            return row;
          };
          if (entries.length === 0 && !opts.all) io.err("No certificate requests are pending.");
          // A few large writes: 100,000 separate writes to a pipe cost more than formatting
          // them, and one 10 MB string copied twice more (newline, then bytes) costs memory.
          const notes = new Map<string, string>();
          if (entries.some((e) => e.state === "requested")) for (const [name, s] of await authority.supersededRequests()) notes.set(name, supersededNote(name, s));
          for (const chunk of renderChunks(entries.length, at, Boolean(opts.all), 10_000, notes)) io.out(chunk);
        }
        return Exit.OK;
      }),
    );
}
