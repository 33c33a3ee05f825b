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
    const e = at(i);
    const prefix = !all ? "" : e.state === "signed" ? "+ " : e.state === "revoked" ? "- " : "  ";
    // `"name"` padded with spaces to `width` (at least none), as padEnd did, without the intermediate strings.
    let line = `${prefix}"${e.name}"${spaces.slice(Math.min(width, e.name.length + 2))}(SHA256) ${e.fingerprint}`;
    const names = e.subject_alt_names;
    // The usual single "DNS:<name>" is checked without copying, sorting or building strings.
    const onlyOwnName = names.length === 1 && names[0]!.length === e.name.length + 4 && names[0]!.startsWith("DNS:") && names[0]!.endsWith(e.name);
    if (names.length > 0 && !onlyOwnName) line += ` (alt names: ${[...names].sort().map((a) => `"${a}"`).join(", ")})`;
    if (e.state === "revoked") line += " (certificate revoked)";
    if (notes !== undefined && e.state === "requested") line += notes.get(e.name) ?? "";
    lines.push(line);
    if (lines.length >= perChunk) {
      yield lines.join("\n");
      lines = [];
    }
  }
  if (lines.length > 0) yield lines.join("\n");
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
function mergedRows(requests: IndexRows, certificates: IndexRows | undefined, revoked: ReadonlySet<bigint>): { count: number; at: (i: number) => Listed } {
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
  const row: Listed = { name: "", state: "signed", fingerprint: "", subject_alt_names: [] };
  const none: string[] = [];
  const at = (k: number): Listed => {
    const p = order[k]!;
    const rows = p < requests.size ? requests : certificates!;
    const i = p < requests.size ? p : p - requests.size;
    row.name = rows.name(i);
    row.fingerprint = rows.sha256(i);
    row.subject_alt_names = rows.plainAltNames(i) ? none : shownAltNames(rows.entry(i).altNames);
    if (rows === requests) row.state = "requested";
    else {
      const key = revoked.size === 0 ? NaN : rows.serialKey(i);
      const isRevoked = !Number.isNaN(key) && (key <= Number.MAX_SAFE_INTEGER ? keys.has(key) : revoked.has(rows.serial(i)!));
      row.state = isRevoked ? "revoked" : "signed";
    }
    return row;
  };
  return { count, at };
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
          const { count, at } = mergedRows(requests, certificates, await authority.revokedSerials());
          if (count === 0 && !opts.all) io.err("No certificate requests are pending.");
          const notes = new Map<string, string>();
          if (requests.size > 0) for (const [name, s] of await authority.supersededRequests()) notes.set(name, supersededNote(name, s));
          for (const chunk of renderChunks(count, at, Boolean(opts.all), 10_000, notes)) io.out(chunk);
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
