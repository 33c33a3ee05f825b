/** Picks the store named by the `store` setting: "file:" (Puppet layout under cadir) or a postgres:// URL. */
import type { CaStore } from "../ca/store.js";
import { FileStore, SERVER_LINGER_MS } from "./file/index.js";

export interface OpenOptions {
  /** What the operator must be told about the store (a CA key left in clear, or sealed now). */
  onNotice?: (message: string) => void;
  /** A long-running server: learn of changes made by others as they happen (PostgreSQL's LISTEN). */
  watch?: boolean;
  onWatch?: (live: boolean, why?: string) => void;
  /** `false` leaves what crashed writers left behind, for `ca check` to report. */
  recover?: boolean;
  /** Where FLEETCA_CA_PASSPHRASE(_FILE) is read; default the process's environment. */
  env?: NodeJS.ProcessEnv;
}

export async function openStore(store: string, cadir: string, opts: OpenOptions = {}): Promise<CaStore> {
  if (store === "file:" || store === "file" || store === "") {
    // The same variables as PostgreSQL's: set, ca_key.pem is written encrypted and read with it (file/ca-key.ts).
    const { passphraseFrom } = await import("./passphrase.js");
    // A server (watch) keeps the CA lock a moment after each batch for its next one (file/index.ts, lingerMs).
    const fileOpts = { passphrase: passphraseFrom(opts.env ?? process.env), onNotice: opts.onNotice, lingerMs: opts.watch ? SERVER_LINGER_MS : 0 };
    return opts.recover === false ? new FileStore(cadir, fileOpts) : FileStore.open(cadir, fileOpts, opts.watch ? "background" : "quick");
  }
  if (/^postgres(ql)?:\/\//.test(store)) {
    // Loaded on demand: a file-store CA never loads the pg driver.
    const { PostgresStore } = await import("./postgres/index.js");
    const { passphraseFrom } = await import("./passphrase.js");
    return PostgresStore.open(store, { ...opts, passphrase: passphraseFrom(opts.env ?? process.env) ?? null });
  }
  throw new Error(`Unknown store "${store}": use "file:" for the on-disk Puppet layout or a postgres://user@host/db URL`);
}
