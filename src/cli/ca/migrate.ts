/** `fleetca ca migrate --to postgres://… | DIR`: copy this CA into another store, then check the copy. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { serialHex } from "../../ca/audit.js";
import { compareStores, type StoreFigures } from "../../ca/migrate-check.js";
import type { CaStore } from "../../ca/store.js";
import { summarize } from "../../ca/summarize.js";
import { FileStore } from "../../store/file/index.js";
import { importIntoFileStore } from "../../store/file/import-from.js";
import { openExistingCa } from "../ca-present.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { shellWord } from "../located.js";
import { caOptions, guarded } from "../shared.js";

const isPostgres = (to: string) => /^postgres(ql)?:\/\//.test(to);
const figures = (f: StoreFigures) =>
  `${f.requests} request(s), ${f.certificates} certificate(s), ${f.inventory} inventory line(s), ${f.revocations} revocation(s), next serial ${serialHex(f.nextSerial)}`;

async function openTarget(to: string, io: Io): Promise<CaStore | string> {
  if (isPostgres(to)) {
    const { PostgresStore } = await import("../../store/postgres/index.js");
    return PostgresStore.open(to);
  }
  const dir = path.resolve(io.cwd, to);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) return `${dir} is not empty: migrate writes a new CA directory; give an empty or new one`;
  return FileStore.open(dir);
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("migrate").description("copy this CA (from --cadir or --store) into another store, then verify the copy"))
    .requiredOption("--to <dest>", "postgres://user@host/db (an empty database), or a new directory to write in Puppet's layout")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { to: string };
        const { store: source } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const target = await openTarget(opts.to, io);
        if (typeof target === "string") {
          await source.close();
          io.err(`Error: ${target}`);
          return Exit.USAGE;
        }
        try {
          if (await target.isInitialized()) {
            io.err(`Error: ${target.location} already holds a CA; migrate copies into an empty store only (fleetca never replaces a CA key).`);
            return Exit.FAILED;
          }
          io.err(`Copying the CA in ${source.location} to ${target.location}...`);
          if (target instanceof FileStore) await importIntoFileStore(target, source, summarize);
          else await (target as CaStore & { importFrom(s: CaStore, f: typeof summarize): Promise<unknown> }).importFrom(source, summarize);
          io.err("Verifying the copy...");
          const check = await compareStores(source, target, summarize);
          io.out(`Source: ${figures(check.source)}`);
          io.out(`Copy:   ${figures(check.copy)}`);
          if (check.problems.length > 0) {
            for (const p of check.problems) io.err(`Error: ${p}`);
            io.err(`The copy in ${target.location} does not match: do not use it; the source is unchanged.`);
            return Exit.FAILED;
          }
          // The location without the URL's password (docs/postgres.md: fleetca never prints it); PGPASSWORD or
          // ~/.pgpass supplies it to the pasted command, as to psql.
          const use = isPostgres(opts.to) ? `--store ${shellWord(target.location)}` : `--cadir ${shellWord(target.location)}`;
          const password = isPostgres(opts.to) && target.location !== opts.to ? " with the database password in PGPASSWORD or ~/.pgpass" : "";
          io.out(`Verified: same CA certificate, CRL, requests, certificates, inventory and revocations. Use it with ${use} (e.g. fleetca ca list --all ${use}${password}).`);
          return Exit.OK;
        } finally {
          await target.close();
          await source.close();
        }
      }),
    );
}
