/**
 * Revoking: records first (who, when, why), then the CRL made from them, all under the CA
 * lock held by the caller. The CRL is appended in place and signed once (pki/crl.ts), so a
 * revoke costs the same at 100,000 entries as at ten.
 */
import { resignedState, withoutSerials, withRevocations, type CrlState } from "../pki/crl.js";
import type { AuditRecord } from "./audit.js";
import { expiries } from "./crl-hygiene.js";
import { publishCrl } from "./crl-publish.js";
import { signingKey, type LoadedMaterial } from "./material.js";
import { principalLabel, type Principal } from "./principal.js";
import { reasonCode, type RevocationReason, type RevocationRecord } from "./revocation.js";
import type { CaStore } from "./store.js";

export interface RevokeTarget {
  serial: bigint;
  name: string;
}

export interface RevokerDeps {
  store: CaStore;
  clock: () => Date;
  /** The CA material, reloaded from the store (force). */
  material: () => Promise<LoadedMaterial>;
  /** Keeps what was just published, so the next revoke re-encodes only what changed. */
  published: (m: LoadedMaterial) => void;
  /** nextUpdate of a CRL signed at `now` (crl_ttl; crl-hygiene.ts). */
  nextUpdate: (now: Date) => Date;
}

export class Revoker {
  constructor(private readonly d: RevokerDeps) {}

  /**
   * Records and publishes revocations of `targets` (serials already in the CRL are skipped,
   * as Puppet succeeds on a second revoke), with `audit` written in the same durable step as
   * the records. Call inside withLock. Returns the records made.
   */
  async revokeLocked(targets: RevokeTarget[], by: Principal, reason: RevocationReason, audit: AuditRecord[]): Promise<RevocationRecord[]> {
    const ca = await this.d.material();
    // Nothing is recorded that the CRL could not then publish.
    signingKey(ca);
    const now = this.d.clock();
    const seen = new Set<bigint>();
    const records: RevocationRecord[] = [];
    for (const t of targets) {
      if (ca.crl.serials.has(t.serial) || seen.has(t.serial)) continue;
      seen.add(t.serial);
      records.push({ serial: t.serial, name: t.name, revokedAt: now, reason, by: principalLabel(by) });
    }
    // Recorded and published side by side: the records' fsync overlaps the CRL's signature
    // (at 100,000 entries, ~4 ms of a ~30 ms revoke). Either order survives a crash: records
    // the CRL lacks are published by repairLocked; a CRL entry without its record yet is
    // rebuilt by the store as a stand-in ("crl"), which the real record replaces when it lands.
    const recording = this.d.store.putRevocations(records, audit);
    if (records.length === 0) await recording;
    else await settled([recording, this.publish(ca, records, now)]);
    return records;
  }

  /**
   * Puts into the CRL any record it lacks: a crash between recording and publishing, or a
   * record written by another server whose publish failed. Call inside withLock.
   */
  async repairLocked(): Promise<number> {
    const ca = await this.d.material();
    const now = this.d.clock();
    let missing = (await this.d.store.listRevocations()).filter((r) => !ca.crl.serials.has(r.serial));
    if (missing.length > 0) {
      // Records of expired certificates are kept when a prune drops their entries (crl-hygiene.ts):
      // they are not missing, and putting them back would undo the prune.
      const expiry = await expiries(this.d.store, new Set(missing.map((r) => r.serial)));
      const expired = (serial: bigint) => (expiry.get(serial)?.notAfter.getTime() ?? Infinity) < now.getTime();
      missing = missing.filter((r) => !expired(r.serial));
    }
    if (missing.length > 0) await this.publish(ca, missing, now);
    return missing.length;
  }

  /**
   * Signs the CRL again with the same entries but those in `drop` (a prune), the CRL number
   * up by one, dated now. Call inside withLock. Returns the state published.
   */
  async resignLocked(drop: ReadonlySet<bigint>): Promise<CrlState> {
    const ca = await this.d.material();
    const now = this.d.clock();
    const next = this.d.nextUpdate(now);
    const state = drop.size > 0 ? withoutSerials(ca.crl, drop, now, next) : resignedState(ca.crl, now, next);
    await this.publishState(ca, state);
    return state;
  }

  private async publish(ca: LoadedMaterial, records: readonly RevocationRecord[], now: Date): Promise<void> {
    const state = withRevocations(ca.crl, records.map((r) => ({ serial: r.serial, when: r.revokedAt, reasonCode: reasonCode(r.reason) })), now, this.d.nextUpdate(now));
    if (state === ca.crl) return;
    await this.publishState(ca, state);
  }

  private async publishState(ca: LoadedMaterial, state: CrlState): Promise<void> {
    // An intermediate CA's outer CRLs stay after its own (crl-chain.ts).
    const published = await publishCrl(this.d.store, state, signingKey(ca), ca.crlEncoded, ca.outerCrlPem);
    this.d.published({ ...ca, crl: state, crlEncoded: published, raw: { ...ca.raw, crlPem: published.pem.toString("latin1") + ca.outerCrlPem }, version: await this.d.store.materialVersion() });
  }
}

/** Waits for every promise, then throws the first failure: nothing is left running behind an error. */
async function settled(all: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(all);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}
