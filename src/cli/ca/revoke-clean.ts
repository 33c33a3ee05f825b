/** `fleetca ca revoke NAME... [--reason R]` and `fleetca ca clean NAME...`. */
import type { Command } from "commander";
import { parseReason, REASON_CODES } from "../../ca/revocation.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded, reportResults } from "../shared.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("revoke").description("revoke certificates (added to the CRL; files kept)"))
    .argument("<names...>", "certnames to revoke")
    .option("--reason <reason>", `why, as the CRL says it: ${Object.keys(REASON_CODES).join(", ")} (default keyCompromise, as Puppet)`)
    .action(
      guarded(io, setCode, async (...args) => {
        const names = args[0] as string[];
        const opts = args[1] as CommonFlags & { reason?: string };
        // Checked before the CA is opened: a typo must not revoke with the wrong reason.
        const reason = opts.reason === undefined ? undefined : parseReason(opts.reason);
        const { reason: _r, ...flags } = opts;
        const { ca: authority, by } = await openCa(settingsFrom(flags, io));
        return reportResults(io, await authority.revoke(names, by, reason), (n) => `Certificate for ${n} has been revoked`);
      }),
    );
  caOptions(ca.command("clean").description("revoke if signed, then remove certificate and request so the node can enroll again"))
    .argument("<names...>", "certnames to clean")
    .action(
      guarded(io, setCode, async (...args) => {
        const names = args[0] as string[];
        const opts = args[1] as CommonFlags;
        const { ca: authority, by } = await openCa(settingsFrom(opts, io));
        const results = await authority.clean(names, by, true);
        const code = reportResults(io, results, (n) => `Cleaned files related to ${n}`);
        return names.length === 0 ? Exit.USAGE : code;
      }),
    );
}
