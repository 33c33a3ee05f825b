/**
 * `fleetca ca prune [--dry-run] [--format json]`: drop the CRL entries of expired certificates.
 * `fleetca ca refresh-crl [--if-due] [--format json]`: sign the CRL again (a CA run from the CLI
 * alone, from cron, with a short crl_ttl; or right after changing crl_ttl). The server does the
 * second by itself when the CRL is due (docs/server.md).
 */
import type { Command } from "commander";
import type { PruneReport } from "../../ca/authority.js";
import { serialHex } from "../../ca/audit.js";
import type { ExpiredEntry } from "../../ca/crl-hygiene.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

type Format = "text" | "json";

function formatOf(io: Io, format: string): Format | undefined {
  if (format === "text" || format === "json") return format;
  io.err(`Error: --format must be text or json, not "${format}"`);
  return undefined;
}

const entryJson = (e: ExpiredEntry) => ({ serial: serialHex(e.serial), name: e.name, notAfter: e.notAfter.toISOString(), revokedAt: e.revokedAt.toISOString() });

/** The report as one JSON object (serials in hex, times in ISO 8601). */
export function reportJson(r: PruneReport, dryRun = false) {
  return {
    ...(dryRun ? { dryRun: true } : {}),
    resigned: r.resigned,
    crlNumber: r.crlNumber.toString(),
    nextUpdate: r.nextUpdate.toISOString(),
    pruned: r.pruned.map(entryJson),
    heldBack: r.heldBack.map(entryJson),
  };
}

const line = (e: ExpiredEntry) => `  ${serialHex(e.serial).padEnd(8)} ${(e.name || "(unknown)").padEnd(32)} expired ${e.notAfter.toISOString()}`;

function printText(io: Io, r: PruneReport, dryRun: boolean, pruning = true): void {
  const verb = dryRun ? "Would remove" : "Removed";
  if (r.pruned.length > 0) io.out([`${verb} ${r.pruned.length} CRL entr${r.pruned.length === 1 ? "y" : "ies"} of expired certificates:`, ...r.pruned.map(line)].join("\n"));
  if (r.heldBack.length > 0) {
    io.out(
      [
        `Kept ${r.heldBack.length} entr${r.heldBack.length === 1 ? "y" : "ies"} of certificates that expired after the current CRL was signed (RFC 5280 lists an entry on one CRL issued after the expiry; ${dryRun ? "the CRL a prune signs" : "the CRL just signed"} is that one, so the next prune removes them):`,
        ...r.heldBack.map(line),
      ].join("\n"),
    );
  }
  if (pruning && r.pruned.length + r.heldBack.length === 0) io.out("No CRL entry belongs to an expired certificate; nothing to prune.");
  if (r.resigned) io.out(`CRL ${r.crlNumber} signed; next update ${r.nextUpdate.toISOString()}.`);
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("prune").description("remove the CRL entries of expired certificates and sign the CRL again (revocation records are kept)"))
    .option("--dry-run", "only say what would be removed")
    .option("--format <format>", "text (default) or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { dryRun?: boolean; format: string };
        const format = formatOf(io, opts.format);
        if (!format) return Exit.USAGE;
        const { ca: authority, by } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const report = await authority.prune(by, { dryRun: opts.dryRun === true });
        if (format === "json") io.out(JSON.stringify(reportJson(report, opts.dryRun === true)));
        else printText(io, report, opts.dryRun === true);
        return Exit.OK;
      }),
    );
  caOptions(ca.command("refresh-crl").description("sign the CRL again with a new nextUpdate (crl_ttl); with auto_prune, prune it too"))
    .option("--if-due", "only when two thirds of the CRL's life have passed or it outlives crl_ttl (for cron)")
    .option("--format <format>", "text (default) or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { ifDue?: boolean; format: string };
        const format = formatOf(io, opts.format);
        if (!format) return Exit.USAGE;
        const { ca: authority, by } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const report = await authority.refreshCrl(by, { force: opts.ifDue !== true });
        if (format === "json") io.out(JSON.stringify(reportJson(report)));
        else if (!report.resigned) io.out(`CRL ${report.crlNumber} is not due yet; next update ${report.nextUpdate.toISOString()}.`);
        else printText(io, report, false, false);
        return Exit.OK;
      }),
    );
}
