/**
 * The durable steps of signing, group-committed: serials come from the store in one locked
 * write per batch, and signed certificates are stored (inventory line, signed/<name>,
 * request removed) in one locked step per batch. Under load each step costs a lock and a
 * few fsyncs per batch instead of per certificate; with one caller a batch is one item.
 * Stores with the BatchStore capability do a batch in one go; others get one call per item.
 */
import { GroupCommit } from "../lib/group-commit.js";
import { CaError } from "./errors.js";
import { serialReserveFor, type SerialReserve } from "./serial-reserve.js";
import { isBatchStore, type CaStore, type SignedCommit } from "./store.js";

export class SigningBatches {
  private readonly reserve: SerialReserve | undefined;

  /** `reserveSerials`: take serials from the store in growing blocks (a long-running server; see serial-reserve.ts). */
  constructor(
    private readonly store: CaStore,
    opts: { reserveSerials?: boolean } = {},
  ) {
    this.reserve = opts.reserveSerials === true && isBatchStore(store) ? serialReserveFor(store) : undefined;
  }

  /** The next serial, unique across processes sharing the store. */
  serial(): Promise<bigint> {
    const reserved = this.reserve?.take();
    return reserved !== undefined ? Promise.resolve(reserved) : this.serials.add(undefined);
  }

  /** Stores a signed certificate; a CaError (conflict) when its request was gone or taken meanwhile. */
  commit(item: SignedCommit & { allowDuplicate?: boolean }): Promise<CaError | undefined> {
    return this.commits.add(item);
  }

  private readonly serials = new GroupCommit<undefined, bigint>((items) =>
    this.store.withLock(async () => {
      const store = this.store;
      if (isBatchStore(store)) {
        const out: bigint[] = [];
        while (out.length < items.length) {
          const reserved = this.reserve?.take();
          if (reserved === undefined) break;
          out.push(reserved);
        }
        const need = items.length - out.length;
        if (need === 0) return out;
        const count = this.reserve ? this.reserve.sizeFor(need) : need;
        const first = await store.allocateSerials(count);
        for (let i = 0; i < need; i++) out.push(first + BigInt(i));
        if (count > need) this.reserve!.keep(first + BigInt(need), first + BigInt(count));
        return out;
      }
      const out: bigint[] = [];
      for (let i = 0; i < items.length; i++) out.push(await store.allocateSerial());
      return out;
    }),
  );

  /**
   * Another process (or a second call here) may have signed the same request while we were
   * signing: the request must still be there, and only the first certificate for it is kept.
   */
  private readonly commits = new GroupCommit<SignedCommit & { allowDuplicate?: boolean }, CaError | undefined>((items) =>
    this.store.withLock(async () => {
      // A certificate signed from its request needs the request still there; one signed straight
      // from an autosigned submission (no request stored) needs no certificate to have appeared
      // for the name meanwhile, unless duplicates are allowed.
      const present = await Promise.all(
        items.map(async (it) =>
          it.removeRequest === false
            ? it.allowDuplicate === true || (await this.store.getCertificate(it.name)) === undefined
            : (await this.store.getRequest(it.name)) !== undefined,
        ),
      );
      const taken = new Set<string>();
      const ok: SignedCommit[] = [];
      const results = items.map((it, i) => {
        if (!present[i] || taken.has(it.name)) {
          return it.removeRequest === false
            ? new CaError("duplicate-cert", `${it.name} already has a signed certificate; ignoring certificate request`)
            : new CaError("conflict", `The request for ${it.name} was signed or removed by someone else meanwhile`);
        }
        taken.add(it.name);
        ok.push(it);
        return undefined;
      });
      const store = this.store;
      if (isBatchStore(store)) {
        await store.commitSigned(ok);
      } else {
        for (const it of ok) {
          await store.putCertificate(it.name, it.certPem, it.inventory, it.entry);
          await store.deleteRequest(it.name);
        }
      }
      return results;
    }),
  );
}
