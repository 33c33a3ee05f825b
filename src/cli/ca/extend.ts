/**
 * `fleetca ca extend [--ca-ttl DUR] [--format json]`: give an expiring CA certificate a later
 * end date, same key, subject and serial (ca/lifecycle/extend.ts says why), after a verified
 * backup. Only this file prints.
 */
import path from "node:path";
import type { Command } from "commander";
import { extendCa } from "../../ca/lifecycle/extend.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";
import { defaultArchivePath, passphraseFrom } from "./archive-files.js";
import { describeBackup, takeBackup } from "./backup-restore.js";

interface Flags extends CommonFlags {
  caTtl?: string;
  format: string;
  passphraseFile?: string;
  backupOut?: string;
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("extend").description("re-issue the CA certificate with the same key, subject and serial and a later end date (after a verified backup)"))
    .option("--ca-ttl <duration>", "lifetime of the extended CA certificate from now (default: the ca_ttl setting)")
    .option("--format <format>", "text (default) or json", "text")
    .option("--passphrase-file <file>", "encrypt the backup with this passphrase (or set FLEETCA_BACKUP_PASSPHRASE)")
    .option("--backup-out <file>", "where the backup goes (default: fleetca-backup-<time>.fleetca beside the CA directory)")
    .action(
      guarded(io, setCode, async (...args) => {
        const flags = args[0] as Flags;
        if (flags.format !== "text" && flags.format !== "json") {
          io.err(`Error: --format must be text or json, not "${flags.format}"`);
          return Exit.USAGE;
        }
        const settings = settingsFrom({ config: flags.config, cadir: flags.cadir, store: flags.store, caTtl: flags.caTtl }, io);
        const { store, ca: authority, by } = await openCa(settings);
        const before = (await authority.current(true)).cert;
        const backupFile = flags.backupOut ? path.resolve(io.cwd, flags.backupOut) : defaultArchivePath(settings, io);
        io.progress("backing up…");
        let backup;
        try {
          backup = await takeBackup(store, settings, backupFile, passphraseFrom(flags.passphraseFile, io), by);
        } catch (e) {
          io.progress("");
          io.err(`Error: the backup could not be taken or verified, so nothing was changed: ${(e as Error).message}`);
          return Exit.FAILED;
        }
        io.progress("signing the CA certificate again…");
        const r = await extendCa(authority, { caTtl: settings.caTtl, now: new Date(), by });
        io.progress("");
        if (flags.format === "json") {
          io.out(JSON.stringify({
            caName: r.caName, serial: r.serial.toString(16).toUpperCase(), oldFingerprint: fingerprint(before.der), fingerprint: r.newFingerprint,
            oldNotAfter: r.oldNotAfter.toISOString(), notBefore: r.notBefore.toISOString(), notAfter: r.notAfter.toISOString(), backup: backup.file, backupSha256: backup.sha256,
          }));
          return Exit.OK;
        }
        for (const l of describeBackup(backup)) io.out(l);
        io.out(`CA "${r.caName}" extended: valid until ${r.notAfter.toISOString()} (was ${r.oldNotAfter.toISOString()}).`);
        io.out(`  Same key, subject and serial ${r.serial.toString(16).toUpperCase()}: every certificate it issued stays valid. New fingerprint ${r.newFingerprint}.`);
        io.out("  A running fleetca server serves it within a second. fleetca agents fetch it on their next CA refresh;");
        io.out("  Puppet agents keep working with their cached copy until its old end date: refresh it before then (docs/regenerate.md, \"Extending an expiring CA\").");
        return Exit.OK;
      }),
    );
}
