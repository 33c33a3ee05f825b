/** `fleetca ca list [--all] [--format json]`: the seed's `puppet cert list` output. */
import type { Command } from "commander";
import type { CertStatus } from "../../ca/status.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

/**
 * One line per entry, as `puppet cert list` printed it: the quoted name padded to the
 * widest name plus one space, "(SHA256)" and the fingerprint, then alt names (sorted)
 * when present. With --all, signed lines start with "+ ", revoked with "- " and carry
 * "(certificate revoked)", requests with two spaces.
 */
export function renderList(entries: Pick<CertStatus, "name" | "state" | "fingerprint" | "subject_alt_names">[], all: boolean): string[] {
  // A loop, not Math.max(...): 100,000 arguments, and one array fewer.
  let widest = 0;
  for (const e of entries) if (e.name.length > widest) widest = e.name.length;
  const width = widest + 3;
  return entries.map((e) => {
    const prefix = !all ? "" : e.state === "signed" ? "+ " : e.state === "revoked" ? "- " : "  ";
    let line = `${prefix}${`"${e.name}"`.padEnd(width)}(SHA256) ${e.fingerprint}`;
    const names = e.subject_alt_names;
    // The usual single "DNS:<name>" is checked without copying, sorting or building strings.
    const onlyOwnName = names.length === 1 && names[0]!.length === e.name.length + 4 && names[0]!.startsWith("DNS:") && names[0]!.endsWith(e.name);
    if (names.length > 0 && !onlyOwnName) line += ` (alt names: ${[...names].sort().map((a) => `"${a}"`).join(", ")})`;
    if (e.state === "revoked") line += " (certificate revoked)";
    return line;
  });
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
        const { ca: authority } = await openCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const wanted = opts.all ? undefined : "requested";
        if (opts.format === "json") {
          const grouped: Record<string, CertStatus[]> = { requested: [] };
          if (opts.all) Object.assign(grouped, { signed: [], revoked: [] });
          for (const e of await authority.statuses(wanted)) grouped[e.state]!.push(e);
          io.out(JSON.stringify(grouped));
        } else {
          // Sorted by name already (the store's index is); only the fields printed are built.
          const entries = (await authority.entries(wanted)).map(({ entry, state }) => ({
            name: entry.name,
            state,
            fingerprint: entry.sha256,
            subject_alt_names: entry.altNames.length === 0 ? entry.altNames : entry.altNames.filter((n) => n.startsWith("DNS:") || n.startsWith("IP:")),
          }));
          const lines = renderList(entries, Boolean(opts.all));
          if (lines.length === 0 && !opts.all) io.err("No certificate requests are pending.");
          // One write: 100,000 separate writes to a pipe cost more than formatting them.
          if (lines.length > 0) io.out(lines.join("\n"));
        }
        return Exit.OK;
      }),
    );
}
