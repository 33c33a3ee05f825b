/**
 * The refusal every `fleetca ca` command that reads or changes an existing CA gives when there is none where it
 * looked: an empty directory must not read as "nothing pending" or "nothing to clean" (exit 0) when the operator
 * simply pointed at the wrong place.
 */
import { CaError } from "../ca/errors.js";
import { DEFAULT_CONFIG_FILE, settingSources, type Settings } from "../config/index.js";
import { openCa, type CaContext } from "./context.js";

/** Where the `cadir` or `store` value came from, for the message: "the default", "flag --cadir"... */
function origin(settings: Settings, key: "cadir" | "store"): string {
  const source = settingSources(settings)[key] ?? "default";
  return /^(default|caller defaults)/.test(source) ? "the default" : source;
}

/** The CaError for "no CA at this location", naming the flags and settings that point elsewhere. */
export function noCaError(settings: Settings, location: string): CaError {
  const fileStore = settings.store === "file:" || settings.store === "file" || settings.store === "";
  const where = fileStore ? `cadir ${location} (from ${origin(settings, "cadir")})` : `store ${location} (from ${origin(settings, "store")})`;
  return new CaError(
    "not-initialized",
    `No CA found in ${where}. ` +
      "Point at the CA with --cadir DIR (setting cadir, FLEETCA_CADIR) or --store URL (setting store, FLEETCA_STORE), " +
      `or --config FILE (FLEETCA_CONFIG; default ${DEFAULT_CONFIG_FILE}) holding them; ` +
      "on a new CA host create one with `fleetca ca setup`, or take an existing CA over with " +
      "`fleetca ca import --cert-bundle CA_CRT --private-key CA_KEY --crl-chain CA_CRL` (CA_CRT, CA_KEY, CA_CRL: its " +
      "certificate, key and CRL files, in Puppet Server's CA directory ca_crt.pem, ca_key.pem and ca_crl.pem).",
  );
}

/** openCa, refusing with noCaError when the store holds no CA. Closes the store it opened before throwing. */
export async function openExistingCa(settings: Settings, opts: { recover?: boolean } = {}): Promise<CaContext> {
  const ctx = await openCa(settings, opts);
  if (!(await ctx.store.isInitialized())) {
    await ctx.store.close();
    throw noCaError(settings, ctx.store.location);
  }
  return ctx;
}
