/**
 * Keeping the CRL fresh and small: when it is signed again with nothing new to list, how long
 * it is valid (crl_ttl), and which entries a prune may drop.
 *
 * Pruning follows RFC 5280 (3.3, 5.3): an entry may leave the CRL once its certificate has
 * expired AND it has been listed on a CRL issued after that expiry. So an entry is pruned
 * when its certificate's notAfter lies before the current CRL's thisUpdate; one that expired
 * since the current CRL was signed is "held back": the CRL the prune signs lists it once more,
 * and the next prune (or the server's next re-sign with auto_prune) drops it. An entry whose
 * expiry is unknown (no inventory line: a serial revoked with --force, or a CA imported from
 * Puppet without its inventory) is kept.
 *
 * The revocation records are kept whatever the CRL drops: they are the history (`fleetca ca
 * audit`, the JSON API), and OCSP answers from them, so a question about an expired revoked
 * certificate still gets "revoked".
 */
import { stateEntries, type CrlState } from "../pki/crl.js";
import type { CaStore } from "./store.js";

const DAY_S = 86_400;
const YEAR_S = 365 * DAY_S;

/** Puppet's CRL validity, hard-coded in Puppet Server: five (calendar) years. */
export const PUPPET_CRL_TTL = 5 * YEAR_S;

/** The CRL is signed again once this share of its life has passed (with no revocation to trigger it). */
export const REFRESH_AT = 2 / 3;

/**
 * nextUpdate for a CRL signed at `now`. A crl_ttl in whole years (Puppet's "5y") counts
 * calendar years, as Puppet Server's hard-coded five years do, so the default CRL is the one
 * Puppet would sign; any other crl_ttl is exact seconds.
 */
export function crlNextUpdate(now: Date, ttlSeconds: number = PUPPET_CRL_TTL): Date {
  if (ttlSeconds > 0 && ttlSeconds % YEAR_S === 0) {
    const d = new Date(now);
    d.setUTCFullYear(d.getUTCFullYear() + ttlSeconds / YEAR_S);
    return d;
  }
  return new Date(now.getTime() + ttlSeconds * 1000);
}

/**
 * Whether the CRL should be signed again now: REFRESH_AT of its life has passed, or it is
 * valid for longer than crl_ttl would sign it for (crl_ttl was shortened: the change takes
 * effect at the next check instead of years later). A little slack keeps two servers whose
 * clocks differ by seconds from re-signing after each other.
 */
export function crlDue(crl: Pick<CrlState, "thisUpdate" | "nextUpdate">, now: Date, ttlSeconds?: number): boolean {
  const life = crl.nextUpdate.getTime() - crl.thisUpdate.getTime();
  if (now.getTime() >= crl.thisUpdate.getTime() + life * REFRESH_AT) return true;
  const fresh = crlNextUpdate(now, ttlSeconds).getTime();
  const slack = Math.min(((ttlSeconds ?? PUPPET_CRL_TTL) * 1000) / 10, 3_600_000);
  return crl.nextUpdate.getTime() > fresh + slack;
}

/** A CRL entry a prune looked at: whose certificate it was and when it expired. */
export interface ExpiredEntry {
  serial: bigint;
  /** The certname of the inventory line ("" when it names none). */
  name: string;
  notAfter: Date;
  revokedAt: Date;
}

export interface ExpiredEntries {
  /** Expired before the current CRL was signed: listed once after expiry already, may go. */
  prune: ExpiredEntry[];
  /** Expired since the current CRL was signed: stays on the next CRL once more. */
  hold: ExpiredEntry[];
}

/** The entries of `crl` whose certificates have expired by `now`, by the inventory (serial -> notAfter). */
export async function expiredEntries(store: CaStore, crl: CrlState, now: Date): Promise<ExpiredEntries> {
  const out: ExpiredEntries = { prune: [], hold: [] };
  if (crl.serials.size === 0) return out;
  const expiry = await expiries(store, crl.serials);
  for (const e of stateEntries(crl)) {
    const inv = expiry.get(e.serial);
    if (!inv || inv.notAfter.getTime() >= now.getTime()) continue;
    const entry: ExpiredEntry = { serial: e.serial, name: inv.name, notAfter: inv.notAfter, revokedAt: e.date };
    (inv.notAfter.getTime() < crl.thisUpdate.getTime() ? out.prune : out.hold).push(entry);
  }
  return out;
}

/** notAfter and certname of each of `serials` the inventory knows (the latest line of a serial wins). */
export async function expiries(store: CaStore, serials: ReadonlySet<bigint>): Promise<Map<bigint, { notAfter: Date; name: string }>> {
  const out = new Map<bigint, { notAfter: Date; name: string }>();
  for (const line of await store.readInventory()) {
    if (!serials.has(line.serial)) continue;
    out.set(line.serial, { notAfter: line.notAfter, name: /(?:^|\/)CN=([^/]+)/.exec(line.subject)?.[1] ?? "" });
  }
  return out;
}
