/** Picks the store named by the `store` setting: "file:" (Puppet layout under cadir) or a postgres:// URL. */
import type { CaStore } from "../ca/store.js";
import { FileStore } from "./file/index.js";

export async function openStore(store: string, cadir: string): Promise<CaStore> {
  if (store === "file:" || store === "file" || store === "") return new FileStore(cadir);
  if (/^postgres(ql)?:\/\//.test(store)) {
    throw new Error(`The PostgreSQL store is not part of this build yet; use "file:" (the default)`);
  }
  throw new Error(`Unknown store "${store}": use "file:" for the on-disk Puppet layout or a postgres://user@host/db URL`);
}
