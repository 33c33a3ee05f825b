/**
 * Revocation by serial and the CRL's upkeep (refresh, prune): the operations an operator or the
 * server's timer asks for, apart from the CA's everyday revoke and clean (authority.ts). What is
 * due and what may be pruned is decided in crl-hygiene.ts; signing goes through the Revoker.
 */
import type { CrlState } from "../pki/crl.js";
import { serialHex, type AuditAction, type AuditRecord, type Outcome } from "./audit.js";
import { crlDue, expiredEntries, type ExpiredEntry } from "./crl-hygiene.js";
import { CaError } from "./errors.js";
import type { LoadedMaterial } from "./material.js";
import type { Principal } from "./principal.js";
import { DEFAULT_REASON, type RevocationReason, type RevocationRecord } from "./revocation.js";
import type { Revoker, RevokeTarget } from "./revoke.js";
import type { CaStore } from "./store.js";

/** One serial's result in revokeBySerial. */
export interface SerialResult {
  serial: bigint;
  /** The holder, from the certificate or the inventory ("" when unknown). */
  name: string;
  /** The revocation record (the first one, when the serial was revoked already). */
  record?: RevocationRecord;
  error?: CaError;
}

/** What a prune or a CRL refresh did. */
export interface PruneReport {
  /** Entries removed from the CRL (or that a dry run would remove). */
  pruned: ExpiredEntry[];
  /** Expired since the last CRL was signed: listed once more, removed by the next prune. */
  heldBack: ExpiredEntry[];
  /** A new CRL was signed. */
  resigned: boolean;
  /** The CRL's number and nextUpdate now. */
  crlNumber: bigint;
  nextUpdate: Date;
}

export interface CrlUpkeepDeps {
  store: CaStore;
  clock: () => Date;
  settings: { crlTtl?: number; autoPrune?: boolean };
  revoker: Revoker;
  current: (force?: boolean) => Promise<LoadedMaterial>;
  namesOfSerials: (serials: readonly bigint[]) => Promise<Map<bigint, string>>;
  record: (action: AuditAction, by: Principal, what: { names?: string[]; serials?: bigint[]; outcome?: Outcome; reason?: string; detail?: string }) => AuditRecord;
  /** Appends (unless already durable), meters and observes audit records. */
  audited: (records: AuditRecord[], alreadyDurable?: boolean) => Promise<void>;
}

export class CrlUpkeep {
  constructor(private readonly d: CrlUpkeepDeps) {}

  /**
   * Revokes by serial as an operator asks for it (`revoke --serial`, the JSON API): works
   * for a certificate whose file is gone (the holder is named from the inventory). A serial
   * this CA has no record of issuing (no certificate holds it, no inventory line names it) is
   * refused unless `force`: a mistyped serial would otherwise sit in the CRL unnoticed. A
   * serial not issued yet (at or past the next serial) is refused even with `force`: the
   * certificate that gets it would be born revoked. Already revoked: succeeds with the first record.
   */
  async revokeBySerial(serials: bigint[], by: Principal, reason: RevocationReason = DEFAULT_REASON, opts: { force?: boolean } = {}): Promise<SerialResult[]> {
    return this.d.store.withLock(async () => {
      const names = await this.d.namesOfSerials(serials);
      const next = await this.d.store.peekSerial();
      const results: SerialResult[] = [];
      const targets: RevokeTarget[] = [];
      const audit: AuditRecord[] = [];
      const listed = (await this.d.current(true)).crl.serials;
      let unpublished = false;
      for (const serial of serials) {
        // Revoked already (perhaps pruned from the CRL since, its certificate expired): its first
        // record answers, as Puppet's second revoke succeeds, and the CRL does not take it back.
        const existing = await this.d.store.getRevocation(serial);
        const name = names.get(serial) ?? existing?.name ?? "";
        if (existing) {
          unpublished ||= !listed.has(serial);
          audit.push(this.d.record("revoked", by, { names: name ? [name] : [], serials: [serial], detail: `${reason}; revoked already` }));
          results.push({ serial, name, record: existing });
          continue;
        }
        const hex = serialHex(serial);
        let error: CaError | undefined;
        if (serial >= next) error = new CaError("not-found", `Serial ${hex} has not been issued yet (the next serial is ${serialHex(next)}); revoking it would revoke the certificate that gets it.`);
        else if (!names.has(serial) && !opts.force) {
          error = new CaError("not-found", `This CA has no record of issuing serial ${hex} (no certificate holds it and the inventory does not list it); check the serial, or force it (--force, "force": true) to list it in the CRL anyway.`);
        }
        if (error) {
          audit.push(this.d.record("revoked", by, { names: name ? [name] : [], serials: [serial], outcome: "refused", reason: error.message }));
          results.push({ serial, name, error });
          continue;
        }
        targets.push({ serial, name });
        audit.push(this.d.record("revoked", by, { names: name ? [name] : [], serials: [serial], detail: opts.force && !name ? `${reason}; forced` : reason }));
        results.push({ serial, name });
      }
      const made = new Map((await this.d.revoker.revokeLocked(targets, by, reason, audit)).map((r) => [r.serial, r]));
      await this.d.audited(audit, true);
      // A record the CRL lacks and should list (a crash between the two; not a pruned one): published from the records.
      if (unpublished) await this.d.revoker.repairLocked();
      for (const r of results) if (!r.error && !r.record) r.record = made.get(r.serial) ?? (await this.d.store.getRevocation(r.serial));
      return results;
    });
  }

  /**
   * Drops from the CRL the entries of certificates that have expired (crl-hygiene.ts says
   * which, and why some wait for one more CRL) and signs it again, the CRL number up by
   * one; the revocation records stay. With `dryRun`, only says what it would do.
   */
  async prune(by: Principal, opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
    if (opts.dryRun) {
      const ca = await this.d.current(true);
      const found = await expiredEntries(this.d.store, ca.crl, this.d.clock());
      return { pruned: found.prune, heldBack: found.hold, resigned: false, crlNumber: ca.crl.crlNumber, nextUpdate: ca.crl.nextUpdate };
    }
    return this.d.store.withLock(async () => {
      const ca = await this.d.current(true);
      const found = await expiredEntries(this.d.store, ca.crl, this.d.clock());
      if (found.prune.length + found.hold.length === 0) return { pruned: [], heldBack: [], resigned: false, crlNumber: ca.crl.crlNumber, nextUpdate: ca.crl.nextUpdate };
      return this.resignAndAudit(by, found.prune, found.hold);
    });
  }

  /**
   * Signs the CRL again when it is due (crl-hygiene.ts: two thirds of its life gone, or
   * valid longer than crl_ttl now allows), or always with `force`; with auto_prune, drops
   * expired certificates' entries in the same signature. The server calls it on a timer.
   */
  async refreshCrl(by: Principal, opts: { force?: boolean } = {}): Promise<PruneReport> {
    const due = (crl: CrlState) => opts.force === true || crlDue(crl, this.d.clock(), this.d.settings.crlTtl);
    const quick = await this.d.current();
    if (!due(quick.crl)) return { pruned: [], heldBack: [], resigned: false, crlNumber: quick.crl.crlNumber, nextUpdate: quick.crl.nextUpdate };
    return this.d.store.withLock(async () => {
      // Again under the lock, from the store: another process may have signed it meanwhile.
      const ca = await this.d.current(true);
      if (!due(ca.crl)) return { pruned: [], heldBack: [], resigned: false, crlNumber: ca.crl.crlNumber, nextUpdate: ca.crl.nextUpdate };
      const found = this.d.settings.autoPrune ? await expiredEntries(this.d.store, ca.crl, this.d.clock()) : { prune: [], hold: [] };
      return this.resignAndAudit(by, found.prune, found.hold, "refreshed");
    });
  }

  private async resignAndAudit(by: Principal, prune: ExpiredEntry[], hold: ExpiredEntry[], why?: "refreshed"): Promise<PruneReport> {
    const state = await this.d.revoker.resignLocked(new Set(prune.map((e) => e.serial)));
    const detail = `CRL ${state.crlNumber}, next update ${state.nextUpdate.toISOString()}; ${prune.length} removed, ${hold.length} held back`;
    const records: AuditRecord[] = [];
    if (why === "refreshed") records.push(this.d.record("crl-refreshed", by, { detail }));
    if (prune.length > 0 || why !== "refreshed") {
      records.push(this.d.record("pruned", by, { names: [...new Set(prune.map((e) => e.name).filter(Boolean))], serials: prune.map((e) => e.serial), detail }));
    }
    await this.d.audited(records);
    return { pruned: prune, heldBack: hold, resigned: true, crlNumber: state.crlNumber, nextUpdate: state.nextUpdate };
  }
}
