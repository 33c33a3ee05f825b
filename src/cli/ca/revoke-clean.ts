/** `fleetca ca revoke NAME... [--serial HEX...] [--reason R] [--force]` and `fleetca ca clean NAME...`. */
import type { Command } from "commander";
import { serialHex } from "../../ca/audit.js";
import { parseReason, parseSerialHex, REASON_CODES } from "../../ca/revocation.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded, reportResults } from "../shared.js";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("revoke").description("revoke certificates, by name or by serial (added to the CRL; files kept)"))
    .argument("[names...]", "certnames to revoke")
    .option("--serial <hex>", "revoke the certificate with this serial (hex, as `list` prints it), even if its file is gone; repeatable", collect, [])
    .option("--reason <reason>", `why, as the CRL says it: ${Object.keys(REASON_CODES).join(", ")} (default keyCompromise, as Puppet)`)
    .option("--force", "with --serial: revoke a serial this CA has no record of issuing (not in the inventory)")
    .action(
      guarded(io, setCode, async (...args) => {
        const names = args[0] as string[];
        const opts = args[1] as CommonFlags & { reason?: string; serial: string[]; force?: boolean };
        if (names.length === 0 && opts.serial.length === 0) {
          io.err("Error: name the certificates to revoke, or give --serial HEX");
          return Exit.USAGE;
        }
        if (opts.force && opts.serial.length === 0) {
          io.err("Error: --force applies to --serial only");
          return Exit.USAGE;
        }
        // Checked before the CA is opened: a typo must not revoke with the wrong reason, or the wrong serial.
        const reason = opts.reason === undefined ? undefined : parseReason(opts.reason);
        const serials = opts.serial.map(parseSerialHex);
        const { reason: _r, serial: _s, force, ...flags } = opts;
        const { ca: authority, by } = await openExistingCa(settingsFrom(flags, io));
        let code: number = Exit.OK;
        if (names.length > 0) code = reportResults(io, await authority.revoke(names, by, reason), (n) => `Certificate for ${n} has been revoked`);
        if (serials.length > 0) {
          const results = await authority.revokeBySerial(serials, by, reason, { force });
          const label = (r: { serial: bigint; name: string }) => `serial ${serialHex(r.serial)}${r.name ? ` (${r.name})` : ""}`;
          const byLabel = results.map((r) => ({ name: label(r), error: r.error }));
          if (reportResults(io, byLabel, (l) => `Certificate with ${l} has been revoked`) !== Exit.OK) code = Exit.FAILED;
        }
        return code;
      }),
    );
  caOptions(ca.command("clean").description("revoke if signed, then remove certificate and request so the node can enroll again"))
    .argument("<names...>", "certnames to clean")
    .action(
      guarded(io, setCode, async (...args) => {
        const names = args[0] as string[];
        const opts = args[1] as CommonFlags;
        const { ca: authority, by } = await openExistingCa(settingsFrom(opts, io));
        const results = await authority.clean(names, by, true);
        const code = reportResults(io, results, (n) => `Cleaned files related to ${n}`);
        return names.length === 0 ? Exit.USAGE : code;
      }),
    );
}
