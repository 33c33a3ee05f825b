/** `fleetca ca revoke NAME...` and `fleetca ca clean NAME...`. */
import type { Command } from "commander";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded, reportResults } from "../shared.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("revoke").description("revoke certificates (added to the CRL; files kept)"))
    .argument("<names...>", "certnames to revoke")
    .action(
      guarded(io, setCode, async (...args) => {
        const names = args[0] as string[];
        const opts = args[1] as CommonFlags;
        const { ca: authority, actor } = await openCa(settingsFrom(opts, io));
        return reportResults(io, await authority.revoke(names, actor), (n) => `Certificate for ${n} has been revoked`);
      }),
    );
  caOptions(ca.command("clean").description("revoke if signed, then remove certificate and request so the node can enroll again"))
    .argument("<names...>", "certnames to clean")
    .action(
      guarded(io, setCode, async (...args) => {
        const names = args[0] as string[];
        const opts = args[1] as CommonFlags;
        const { ca: authority, actor } = await openCa(settingsFrom(opts, io));
        const results = await authority.clean(names, actor, true);
        const code = reportResults(io, results, (n) => `Cleaned files related to ${n}`);
        return names.length === 0 ? Exit.USAGE : code;
      }),
    );
}
