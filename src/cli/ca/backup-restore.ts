/** `fleetca ca backup [--out FILE]` and `fleetca ca restore ARCHIVE`. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { backupCa, restoreCa, verifyArchive, type BackupResult } from "../../ca/lifecycle/backup.js";
import type { Principal } from "../../ca/principal.js";
import type { CaStore } from "../../ca/store.js";
import type { Settings } from "../../config/index.js";
import { isInside } from "../../store/file/tree.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";
import { defaultArchivePath, fileSink, fileSource, passphraseFrom, ssldirPort } from "./archive-files.js";

export interface TakenBackup extends BackupResult {
  file: string;
  sha256: string;
}

/** Takes a backup into `file`, reads it back and checks it; refuses (throws) if any of it fails. */
export async function takeBackup(store: CaStore, settings: Settings, file: string, passphrase: string | undefined, by: Principal): Promise<TakenBackup> {
  if (store.archiveKind === "file" && isInside(path.resolve(file), path.resolve(settings.cadir))) {
    throw Object.assign(new Error(`${file} is inside the CA directory it would archive: choose --out elsewhere`), { code: "EINVAL" });
  }
  // Before anything is written or audited: a backup that cannot land must change nothing (fileSink checks again at the end).
  if (fs.existsSync(file)) throw Object.assign(new Error(`${file} exists: choose another --out (a backup never overwrites a file)`), { code: "EEXIST" });
  try {
    fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK);
  } catch (e) {
    throw Object.assign(new Error(`cannot write into ${path.dirname(path.resolve(file))}: ${(e as Error).message}`), { code: "EACCES" });
  }
  const out = fileSink(file);
  const result = await backupCa(store, out.sink, { passphrase, ssldir: ssldirPort(settings), now: new Date(), by });
  await verifyArchive(fileSource(file), passphrase, result);
  return { ...result, file, sha256: out.digest() };
}

export function describeBackup(b: TakenBackup): string[] {
  return [
    `Backup written and verified: ${b.file}`,
    `  SHA256 ${b.sha256}; ${b.items} items (${b.header.store} store ${b.header.location}, CA ${b.header.caFingerprint})`,
    b.encrypted
      ? "  Encrypted with AES-256-GCM under a key derived from the passphrase by scrypt."
      : "  NOT ENCRYPTED: the CA private key is in this file in clear (mode 0600). Keep it offline, or use --passphrase-file.",
  ];
}

const backupJson = (b: TakenBackup) => ({ file: b.file, sha256: b.sha256, items: b.items, encrypted: b.encrypted, store: b.header.store, location: b.header.location, caFingerprint: b.header.caFingerprint });

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("backup").description("write the whole CA (store, server credentials, audit log) into one verified archive"))
    .option("--out <file>", "archive to write (default: fleetca-backup-<time>.fleetca beside the CA directory)")
    .option("--passphrase-file <file>", "encrypt with a key derived from this file's first line (or set FLEETCA_BACKUP_PASSPHRASE)")
    .option("--format <format>", "text (default) or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { out?: string; passphraseFile?: string; format: string };
        const settings = settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io);
        const passphrase = passphraseFrom(opts.passphraseFile, io);
        const { store, by } = await openCa(settings);
        const file = opts.out ? path.resolve(io.cwd, opts.out) : defaultArchivePath(settings, io);
        io.progress(`writing ${file}…`);
        const b = await takeBackup(store, settings, file, passphrase, by);
        io.progress("");
        if (opts.format === "json") io.out(JSON.stringify(backupJson(b)));
        else for (const l of describeBackup(b)) io.out(l);
        return Exit.OK;
      }),
    );

  caOptions(ca.command("restore").description("put a backup back byte for byte (the current state is backed up first)").argument("<archive>", "a file written by `fleetca ca backup`"))
    .option("--passphrase-file <file>", "the passphrase of an encrypted archive (or set FLEETCA_BACKUP_PASSPHRASE)")
    .option("--format <format>", "text (default) or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const archive = path.resolve(io.cwd, args[0] as string);
        const opts = args[1] as CommonFlags & { passphraseFile?: string; format: string };
        const settings = settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io);
        const passphrase = passphraseFrom(opts.passphraseFile, io);
        if (!fs.existsSync(archive)) {
          io.err(`Error: ${archive} does not exist`);
          return Exit.USAGE;
        }
        const { store, by } = await openCa(settings);
        let before: TakenBackup | undefined;
        const r = await restoreCa(store, fileSource(archive), {
          passphrase,
          ssldir: ssldirPort(settings),
          backupCurrent: async () => {
            const file = defaultArchivePath(settings, io, "fleetca-pre-restore");
            before = await takeBackup(store, settings, file, passphrase, by);
          },
        });
        if (opts.format === "json") {
          io.out(JSON.stringify({ restored: archive, items: r.items, caFingerprint: r.header.caFingerprint, takenAt: r.header.createdAt, before: before ? backupJson(before) : null }));
          return Exit.OK;
        }
        if (before) for (const l of describeBackup(before).map((l, i) => (i === 0 ? l.replace("Backup written", "The state before the restore was backed up") : l))) io.out(l);
        io.out(`Restored ${archive} (taken ${r.header.createdAt}, ${r.items} items) into ${store.location}; CA ${r.header.caFingerprint}`);
        io.out("Restart any fleetca server using this CA so it serves the restored CA and credentials.");
        return Exit.OK;
      }),
    );
}
