/** Pieces every command uses: option sets, error printing, name lists. */
import type { Command } from "commander";
import { isCaError } from "../ca/errors.js";
import { ConfigError } from "../config/index.js";
import { Exit } from "./exit-codes.js";
import type { Io } from "./io.js";

export type Action = (...args: unknown[]) => Promise<number>;

/** --config, --cadir and --store, on every `fleetca ca` command. */
export function caOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "fleetca YAML config file")
    .option("--cadir <dir>", "CA directory (Puppet Server layout)")
    .option("--store <url>", "store: file: (default, Puppet's layout under --cadir) or postgres://user@host/db");
}

/** Lines of a many-names command's report written at once. */
const REPORT_CHUNK = 512;

/** Prints one line per failure and returns the exit code for a many-names command. */
export function reportResults(io: Io, results: { name: string; error?: Error }[], ok: (name: string) => string): number {
  for (const r of results) if (r.error) io.err(`Error: ${r.name}: ${r.error.message}`);
  // Lines in chunks: a `sign --all` of 10,000 wrote its report with one write(2) per line.
  const lines = results.filter((r) => !r.error).map((r) => ok(r.name));
  for (let i = 0; i < lines.length; i += REPORT_CHUNK) io.out(lines.slice(i, i + REPORT_CHUNK).join("\n"));
  return results.some((r) => r.error) ? Exit.FAILED : Exit.OK;
}

/** Maps a thrown error to what the user sees; unexpected errors keep their stack for a bug report. */
export function reportError(io: Io, e: unknown): number {
  if (e instanceof ConfigError) {
    io.err(`Error: ${e.message}`);
    return Exit.USAGE;
  }
  if (isCaError(e)) {
    io.err(`Error: ${e.message}`);
    return e.kind === "not-initialized" || e.kind === "invalid-name" ? Exit.USAGE : Exit.FAILED;
  }
  const err = e as Error & { code?: string };
  // Parse errors, store conflicts, and system or database errors (they carry a `code`:
  // ENOENT, ECONNREFUSED, a PostgreSQL SQLSTATE) are the user's to fix: no stack trace.
  const userFacing = ["PemError", "DerError", "CsrError", "StoreConflictError", "AltNameError", "StoreUnavailableError"];
  if (userFacing.includes(err?.name) || typeof err?.code === "string") {
    io.err(`Error: ${err.message}`);
    return Exit.FAILED;
  }
  io.err(`Error: unexpected failure: ${err?.stack ?? String(e)}`);
  return Exit.FAILED;
}

/** Wraps an action so that thrown errors become a message and an exit code. */
export function guarded(io: Io, setCode: (c: number) => void, fn: Action): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    try {
      setCode(await fn(...args));
    } catch (e) {
      setCode(reportError(io, e));
    }
  };
}

export const splitList = (v: string | undefined): string[] | undefined =>
  v === undefined ? undefined : v.split(",").map((s) => s.trim()).filter(Boolean);
