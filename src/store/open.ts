/** Picks the store named by the `store` setting: "file:" (Puppet layout under cadir) or a postgres:// URL. */
import type { CaStore } from "../ca/store.js";
import { FileStore } from "./file/index.js";

/** `recover: false` leaves what crashed writers left behind, for `ca check` to report. */
export async function openStore(store: string, cadir: string, opts: { recover?: boolean } = {}): Promise<CaStore> {
  if (store === "file:" || store === "file" || store === "") return opts.recover === false ? new FileStore(cadir) : FileStore.open(cadir);
  if (/^postgres(ql)?:\/\//.test(store)) {
    // Loaded on demand: a file-store CA never loads the pg driver.
    const { PostgresStore } = await import("./postgres/index.js");
    return PostgresStore.open(store);
  }
  throw new Error(`Unknown store "${store}": use "file:" for the on-disk Puppet layout or a postgres://user@host/db URL`);
}
