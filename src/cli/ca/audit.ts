/** `fleetca ca audit [--since DUR] [--name NAME] [--action A] [--limit N] [--format json]`: the CA's audit trail. */
import type { Command } from "commander";
import { AUDIT_ACTIONS, type AuditAction, type AuditRecord } from "../../ca/audit.js";
import { validateCertname } from "../../ca/names.js";
import { tryParseDuration } from "../../config/duration.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

/** `--since` as a duration back from now ("2h", "7d") or an ISO 8601 date. */
export function parseSince(text: string, now: Date): Date | undefined {
  const seconds = tryParseDuration(text);
  if (seconds !== undefined) return new Date(now.getTime() - seconds * 1000);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  return undefined;
}

/** One line for people: time, outcome mark, action, names, serials, who, from, and why. */
export function renderAuditLine(r: AuditRecord): string {
  const mark = r.outcome === "ok" ? " " : "!";
  const serials = r.serials.length > 0 ? ` serial ${r.serials.join(",")}` : "";
  const names = r.names.length > 0 ? ` ${r.names.join(",")}` : "";
  const why = r.reason ? `: ${r.reason}` : r.detail ? ` (${r.detail})` : "";
  return `${r.time} ${mark} ${r.action}${r.outcome === "refused" ? " refused" : ""}${names}${serials} by ${r.who} from ${r.from}${why}`;
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("audit").description("show the audit trail: every change and refusal, who made it and from where"))
    .option("--since <when>", "only records newer than a duration back from now (2h, 7d) or an ISO date")
    .option("--name <certname>", "only records about this certname")
    .option("--action <action>", `only this action: ${AUDIT_ACTIONS.join(", ")}`)
    .option("--limit <n>", "only the most recent N records")
    .option("--format <format>", "text (default) or json (one JSON object per line)", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { since?: string; name?: string; action?: string; limit?: string; format: string };
        if (opts.format !== "text" && opts.format !== "json") {
          io.err(`Error: --format must be text or json, not "${opts.format}"`);
          return Exit.USAGE;
        }
        const since = opts.since === undefined ? undefined : parseSince(opts.since, new Date());
        if (opts.since !== undefined && since === undefined) {
          io.err(`Error: --since ${JSON.stringify(opts.since)} is neither a duration (2h, 7d, 3600) nor an ISO date (2026-12-01T10:00:00Z)`);
          return Exit.USAGE;
        }
        if (opts.action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(opts.action)) {
          io.err(`Error: --action ${JSON.stringify(opts.action)} is not one of ${AUDIT_ACTIONS.join(", ")}`);
          return Exit.USAGE;
        }
        const limit = opts.limit === undefined ? undefined : Number(opts.limit);
        if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
          io.err(`Error: --limit must be a positive whole number, not ${JSON.stringify(opts.limit)}`);
          return Exit.USAGE;
        }
        if (opts.name !== undefined) validateCertname(opts.name);
        const { ca: authority } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const records = await authority.auditLog({ since, name: opts.name, action: opts.action as AuditAction | undefined, limit });
        if (opts.format === "json") {
          if (records.length > 0) io.out(records.map((r) => JSON.stringify(r)).join("\n"));
        } else if (records.length === 0) {
          io.err("No audit records match.");
        } else {
          io.out(records.map(renderAuditLine).join("\n"));
        }
        return Exit.OK;
      }),
    );
}
