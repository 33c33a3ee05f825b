/**
 * `fleetca ca passphrase --rotate`: encrypt the CA key under a new passphrase (PostgreSQL
 * store; on the file store ca_key.pem as an encrypted PKCS#8 key, a clear one included). The current one comes from FLEETCA_CA_PASSPHRASE(_FILE) as for every command,
 * the new one from --new-passphrase-file or FLEETCA_CA_NEW_PASSPHRASE(_FILE): never from a
 * flag's value, which `ps` shows.
 */
import type { Command } from "commander";
import { passphraseFrom } from "../../store/passphrase.js";
import { openStore } from "../../store/open.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { caOptions, guarded } from "../shared.js";
import path from "node:path";

interface Rotatable {
  rotatePassphrase(next: string): Promise<void>;
}

const NEW = "FLEETCA_CA_NEW_PASSPHRASE";
const NEW_FILE = "FLEETCA_CA_NEW_PASSPHRASE_FILE";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("passphrase").description("manage the passphrase the CA key is encrypted with (PostgreSQL store, or ca_key.pem of the file store)"))
    .option("--rotate", "encrypt the CA key under a new passphrase")
    .option("--new-passphrase-file <file>", `file holding the new passphrase (else ${NEW} or ${NEW_FILE})`)
    .option("--format <format>", "text (default) or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { rotate?: boolean; newPassphraseFile?: string; format: string };
        if (opts.format !== "text" && opts.format !== "json") {
          io.err(`Error: --format must be text or json, not "${opts.format}"`);
          return Exit.USAGE;
        }
        if (!opts.rotate) {
          io.err("Error: say what to do: `fleetca ca passphrase --rotate` encrypts the CA key under a new passphrase.");
          return Exit.USAGE;
        }
        const env = opts.newPassphraseFile ? { [NEW_FILE]: opts.newPassphraseFile } : io.env;
        const next = passphraseFrom(env, NEW, NEW_FILE);
        if (!next) {
          io.err(`Error: no new passphrase: give --new-passphrase-file <file>, or set ${NEW} or ${NEW_FILE}.`);
          return Exit.USAGE;
        }
        const settings = settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io);
        const store = await openStore(settings.store, path.resolve(settings.cadir), { onNotice: (m) => io.err(`Warning: ${m}`), env: io.env });
        try {
          if (typeof (store as Partial<Rotatable>).rotatePassphrase !== "function") {
            io.err(`Error: the CA key in ${store.location} cannot be encrypted with a passphrase by this store; nothing to rotate.`);
            return Exit.USAGE;
          }
          await (store as unknown as Rotatable).rotatePassphrase(next);
        } finally {
          await store.close();
        }
        if (opts.format === "json") io.out(JSON.stringify({ rotated: true, store: store.location }));
        else {
          io.out(`The CA key in ${store.location} is now encrypted with the new passphrase.`);
          io.out("Give every CA server the new passphrase before it next starts (running servers keep the key they opened).");
          if (store.archiveKind === "file") io.out("Puppet Server cannot read an encrypted ca_key.pem: serve this CA with fleetca only.");
        }
        return Exit.OK;
      }),
    );
}
