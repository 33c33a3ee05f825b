/** `fleetca ca list [--all] [--format json]`: the seed's `puppet cert list` output. */
import type { Command } from "commander";
import type { CertStatus } from "../../ca/status.js";
import { expiryWarnings } from "../../ca/lifecycle/expiry.js";
import { letNewRequestIn, type Supersession } from "../../ca/superseded.js";
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
  return renderChunks(entries.length, (i) => entries[i]!, all, Infinity);
}

/** What `list` adds to a pending request superseded by a refused newer one (a node that lost its key). */
export function supersededNote(name: string, s: Supersession): string {
  return ` (superseded: a newer request with another key, SHA256 ${s.refused}, was refused at ${s.time}; to let it in: ${letNewRequestIn(name)})`;
}

/**
 * renderList's lines joined by "\n" in chunks of up to `perChunk` lines. The entries are
 * fetched by index so that `list` can format straight from the store's entries, without
 * building 100,000 intermediate objects first.
 */
function renderChunks(count: number, at: (i: number) => Listed, all: boolean, perChunk: number, notes?: ReadonlyMap<string, string>): string[] {
  // A loop, not Math.max(...): 100,000 arguments, and one array fewer.
  let widest = 0;
  for (let i = 0; i < count; i++) widest = Math.max(widest, at(i).name.length);
  const width = widest + 3;
  const spaces = " ".repeat(width);
  const chunks: string[] = [];
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
      chunks.push(lines.join("\n"));
      lines = [];
    }
  }
  if (perChunk === Infinity) return lines;
  if (lines.length > 0) chunks.push(lines.join("\n"));
  return chunks;
}

/** Only the alt names `list` shows (DNS and IP); the common case returns the entry's own frozen array. */
function shownAltNames(altNames: string[]): string[] {
  if (altNames.length === 0) return altNames;
  for (const n of altNames) if (!n.startsWith("DNS:") && !n.startsWith("IP:")) return altNames.filter((a) => a.startsWith("DNS:") || a.startsWith("IP:"));
  return altNames;
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
