/** Settings, store and CA for one CLI command: the only place the CLI wires layers together. */
import path from "node:path";
import { CertificateAuthority } from "../ca/authority.js";
import { localPrincipal, type Principal } from "../ca/principal.js";
import type { CaStore } from "../ca/store.js";
import { loadSettings, settingKeyOf, type Settings } from "../config/index.js";
import { openStore } from "../store/open.js";
import type { Io } from "./io.js";
import os from "node:os";

/** Where the CLI looks for the CA when nothing says otherwise. */
export const DEFAULT_CADIR = "/var/lib/fleetca/ca";

export interface CommonFlags {
  config?: string;
  cadir?: string;
  store?: string;
  [k: string]: unknown;
}

/** Loads settings, taking from the command's flags only those that are settings (not --all, --format…). */
export function settingsFrom(flags: CommonFlags, io: Io, defaults: Partial<Settings> = {}): Settings {
  const { config, ...rest } = flags;
  const settingFlags = Object.fromEntries(Object.entries(rest).filter(([k, v]) => v !== undefined && settingKeyOf(k)));
  return loadSettings({ file: config, env: io.env, flags: settingFlags, defaults: { cadir: DEFAULT_CADIR, ...defaults }, cwd: io.cwd });
}

export interface CaContext {
  settings: Settings;
  store: CaStore;
  ca: CertificateAuthority;
  /** The local operator: `cli:<unix user>@<host>`. */
  by: Principal;
}

/**
 * Opens the store and the CA. Unless `recover: false` (`ca check`, which reports what it finds),
 * what a crash left half done is finished first (ca/recovery.ts; the file store removes its
 * stale temporary files as it opens).
 */
export async function openCa(
  settings: Settings,
  opts: { recover?: boolean; notice?: (m: string) => void } = {},
): Promise<CaContext> {
  const notice = opts.notice ?? ((m: string) => void process.stderr.write(`Warning: ${m}\n`));
  const store = await openStore(settings.store, path.resolve(settings.cadir), { recover: opts.recover !== false, onNotice: notice });
  const ca = new CertificateAuthority({ store, settings });
  if (opts.recover !== false && (await store.isInitialized())) await ca.recoverInterrupted();
  return { settings, store, ca, by: localPrincipal(os.userInfo().username, os.hostname()) };
}

