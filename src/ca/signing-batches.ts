/**
 * The durable steps of signing, group-committed: serials come from the store in one locked
 * write per batch, and signed certificates are stored (inventory line, signed/<name>,
 * request removed, audit record) in one locked step per batch. Under load each step costs a
 * lock and a few fsyncs per batch instead of per certificate; with one caller a batch is one
 * item. Stores with the BatchStore capability do a batch in one go; others get one call per item.
 */
import { GroupCommit } from "../lib/group-commit.js";
import { CaError } from "./errors.js";
import { SerialReserve, serialReserveFor } from "./serial-reserve.js";
import { isBatchStore, type CaStore, type SignedCommit } from "./store.js";
import { summarize } from "./summarize.js";
import { twinRefusal } from "./twin.js";

/** What must still hold, under the lock, for a signed certificate to be kept. */
export type CommitPrecondition =
  /**
   * Signed from a stored request: the request is still there (nobody signed or removed it
   * meanwhile); with `pem` (the bytes that were signed), still those bytes, not a request sent
   * again in between, which would otherwise be removed with a certificate for another key.
   */
  | { kind: "request-present"; pem?: string }
  /** Signed without a stored request: no certificate appeared for the name, unless duplicates are allowed. */
  | { kind: "no-certificate"; allowDuplicate: boolean }
  /** A renewal: the name's current certificate is still `serial`, and it is not revoked. */
  | { kind: "current-serial"; serial: bigint };

/** `twin`: the name's trailing-dot twin (twin.ts), which must have no certificate when this one is kept. */
export type PendingCommit = SignedCommit & { precondition: CommitPrecondition; twin?: string };

/**
 * The longest a commit of signed certificates waits for more of a bulk signing's certificates
 * (bulk()): on one core an RSA-4096 signature takes ~4 ms, so a batch of 16 gathers in ~60 ms.
 */
const GATHER_MS = 100;

/**
 * The most serials a bulk signing takes from the store at once (bulk()): without a reserve,
 * each batch of serials was a locked write of `serial` replacing the file, which ext4 makes
 * flush the new file at once (auto_da_alloc), ~0.4-1.5 ms a batch, for batches of ~30.
 */
const BULK_SERIALS = 256;

export class SigningBatches {
  private readonly reserve: SerialReserve | undefined;
  /** Bulk signings running (bulk()): the batch each wants, and how many of its certificates are still to come. */
  private readonly bulks = new Set<{ batch: number; remaining: () => number }>();
  /**
   * Serials taken ahead for the bulk signings running (a process without `reserve`: the CLI):
   * as many as they still have certificates to come, at most BULK_SERIALS, and what is left
   * when the last ends goes back to the store, so a `sign --all` leaves its serials
   * consecutive and the counter right after them, as one at a time did.
   */
  private readonly bulkSpare = new SerialReserve();

  /** `reserveSerials`: take serials from the store in growing blocks (a long-running server; see serial-reserve.ts). */
  constructor(
    private readonly store: CaStore,
    opts: { reserveSerials?: boolean } = {},
  ) {
    this.reserve = opts.reserveSerials === true && isBatchStore(store) ? serialReserveFor(store) : undefined;
  }

  /** The next serial, unique across processes sharing the store; `issuerSpki`: the CA key that will sign with it. */
  serial(issuerSpki?: Buffer): Promise<bigint> {
    if (issuerSpki) (this.reserve ?? this.bulkSpare).signingWith(issuerSpki);
    const reserved = this.takeReserved();
    return reserved !== undefined ? Promise.resolve(reserved) : this.serials.add(undefined);
  }

  private takeReserved(): bigint | undefined {
    return this.reserve ? this.reserve.take() : this.bulkSpare.take();
  }

  /** How many serials to take from the store when `need` are wanted now. */
  private serialsFor(need: number): number {
    if (this.reserve) return this.reserve.sizeFor(need);
    let coming = 0;
    for (const b of this.bulks) coming += b.remaining();
    return Math.max(need, Math.min(coming, BULK_SERIALS));
  }

  /**
   * Runs a bulk signing (sign --all): while `fn` runs, a commit waits up to GATHER_MS for `batch`
   * signed certificates (or all `remaining()` ones) and stores them in one step. One by one,
   * each certificate paid the step's fixed cost (lock, journal write and sync, opening
   * inventory.txt, the index and the audit log): with signatures finishing one at a time on
   * one core, batches held one or two certificates. Nothing is acknowledged before its commit,
   * so waiting changes no guarantee; other commits meanwhile (a server's enrollments while an
   * operator signs in bulk) join the same batches and wait as long.
   */
  async bulk<T>(batch: number, remaining: () => number, fn: () => Promise<T>): Promise<T> {
    const b = { batch, remaining };
    this.bulks.add(b);
    try {
      return await fn();
    } finally {
      this.bulks.delete(b);
      this.commits.recheck();
      if (this.bulks.size === 0) await this.returnBulkSpare();
    }
  }

  /** Gives the bulk signings' unused serials back, if nobody took one after them meanwhile (else they stay a gap). */
  private async returnBulkSpare(): Promise<void> {
    const store = this.store;
    if (!isBatchStore(store) || typeof store.returnSerials !== "function") return;
    const rest = this.bulkSpare.drain();
    // Not given back (the store out of reach now): a gap in the numbering, as after a crash, which nothing minds.
    if (rest) await store.withLock(() => store.returnSerials!(rest.from, rest.end)).catch(() => undefined);
  }

  /** A bulk signing's remaining() went down without a commit (a name refused before signing). */
  recheck(): void {
    this.commits.recheck();
  }

  private gatherTarget(): { atLeast: number; maxWaitMs: number } {
    let atLeast = 0;
    for (const b of this.bulks) atLeast += Math.min(b.batch, b.remaining());
    return { atLeast, maxWaitMs: GATHER_MS };
  }

  /** Stores a signed certificate; a CaError when its precondition no longer holds. */
  commit(item: PendingCommit): Promise<CaError | undefined> {
    return this.commits.add(item);
  }

  private readonly serials = new GroupCommit<undefined, bigint>((items) =>
    this.store.withLock(async () => {
      const store = this.store;
      if (isBatchStore(store)) {
        const out: bigint[] = [];
        while (out.length < items.length) {
          const reserved = this.takeReserved();
          if (reserved === undefined) break;
          out.push(reserved);
        }
        const need = items.length - out.length;
        if (need === 0) return out;
        const count = this.serialsFor(need);
        const first = await store.allocateSerials(count);
        for (let i = 0; i < need; i++) out.push(first + BigInt(i));
        if (count > need) (this.reserve ?? this.bulkSpare).keep(first + BigInt(need), first + BigInt(count));
        return out;
      }
      const out: bigint[] = [];
      for (let i = 0; i < items.length; i++) out.push(await store.allocateSerial());
      return out;
    }),
  );

  /** Why `it` can no longer be stored, checked under the lock; undefined when it can. */
  private async refusal(it: PendingCommit): Promise<CaError | undefined> {
    const refused = await this.preconditionRefusal(it);
    if (refused || it.twin === undefined) return refused;
    return (await this.store.getCertificate(it.twin)) === undefined ? undefined : twinRefusal(it.name, it.twin, "signed certificate");
  }

  private async preconditionRefusal(it: PendingCommit): Promise<CaError | undefined> {
    const p = it.precondition;
    switch (p.kind) {
      case "request-present": {
        const now = await this.store.getRequest(it.name);
        if (now === undefined) return new CaError("conflict", `The request for ${it.name} was signed or removed by someone else meanwhile`);
        if (p.pem !== undefined && now !== p.pem) {
          return new CaError("conflict", `The request for ${it.name} was replaced by another while it was being signed; the certificate was discarded and the new request is still pending`);
        }
        // What the store removes with the certificate: read here, under the lock, once.
        it.requestPem = now;
        return undefined;
      }
      case "no-certificate":
        return p.allowDuplicate || (await this.store.getCertificate(it.name)) === undefined
          ? undefined
          : new CaError("duplicate-cert", `${it.name} already has a signed certificate; ignoring certificate request`);
      case "current-serial": {
        const { certificate } = await this.store.getIndexEntry(it.name, summarize);
        const revoked = (await this.store.getRevocation(p.serial)) !== undefined;
        return certificate?.serial === p.serial && !revoked
          ? undefined
          : new CaError("conflict", `The certificate for ${it.name} was revoked, cleaned or replaced while it was being renewed; the renewed certificate was discarded.`);
      }
    }
  }

  /**
   * Another process (or a second call here) may have signed the same request while we were
   * signing: each item's precondition is checked again under the lock, and only the first
   * certificate for a name in a batch is kept.
   */
  private readonly commits = new GroupCommit<PendingCommit, CaError | undefined>(
    (items) =>
    this.store.withLock(async () => {
      const refusals = await Promise.all(items.map((it) => this.refusal(it)));
      const taken = new Set<string>();
      const ok: SignedCommit[] = [];
      const results = items.map((it, i) => {
        const refused = refusals[i] ?? (taken.has(it.name) ? duplicateInBatch(it) : it.twin !== undefined && taken.has(it.twin) ? twinRefusal(it.name, it.twin, "signed certificate") : undefined);
        if (refused) return refused;
        taken.add(it.name);
        const { precondition: _p, twin: _t, ...commit } = it;
        ok.push(commit);
        return undefined;
      });
      const store = this.store;
      if (isBatchStore(store)) {
        await store.commitSigned(ok);
      } else {
        for (const it of ok) {
          await store.putCertificate(it.name, it.certPem, it.inventory, it.entry);
          if (it.removeRequest !== false) await store.deleteRequest(it.name);
        }
        await store.appendAudit(ok.flatMap((it) => (it.audit ? [it.audit] : [])));
      }
      return results;
    }),
    64,
    () => this.gatherTarget(),
  );
}

function duplicateInBatch(it: PendingCommit): CaError {
  return it.precondition.kind === "no-certificate"
    ? new CaError("duplicate-cert", `${it.name} already has a signed certificate; ignoring certificate request`)
    : new CaError("conflict", `The request for ${it.name} was signed or removed by someone else meanwhile`);
}
