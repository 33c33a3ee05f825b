/**
 * Serials reserved ahead by a long-running signer (the server). Every serial taken from
 * the store costs a locked, fsynced write of the counter, and that lock is the one the
 * certificate commits need too: under enrollment load, one counter write per batch of
 * certificates left the lock busy half the time with serials. The reserve asks the store
 * for a block that grows while demand keeps up (1, 2, 4 ... 64 when allocations come
 * within a second of each other) and falls back to one at a time when it is quiet, so an
 * idle server holds no block at all.
 *
 * Serials stay unique across processes (each block is a durable counter advance), but a
 * block not used up leaves a gap in the numbering. The server gives the rest back when it
 * stops, if nobody took a serial after the block meanwhile; a crash leaves the gap, which
 * nothing in X.509 or Puppet's tools minds (they never assume consecutive serials).
 * One-shot CLI processes do not keep a reserve: their serials stay consecutive, as Puppet's
 * are (a bulk signing takes what it still needs ahead and gives the rest back when it ends:
 * signing-batches.ts).
 */
import type { CaStore } from "./store.js";

const MAX_BLOCK = 64;
/** Allocations closer than this count as sustained demand. */
const BURST_MS = 1000;

export class SerialReserve {
  private next = 0n;
  private end = 0n;
  private block = 1;
  private lastAllocation = Number.NEGATIVE_INFINITY;

  /** A reserved serial, or undefined when the reserve is empty. */
  take(): bigint | undefined {
    if (this.next >= this.end) return undefined;
    return this.next++;
  }

  /** How many serials to ask the store for when `need` are wanted now. */
  sizeFor(need: number, now = Date.now()): number {
    this.block = now - this.lastAllocation < BURST_MS ? Math.min(MAX_BLOCK, this.block * 2) : 1;
    this.lastAllocation = now;
    return Math.max(need, this.block);
  }

  /** Keeps [from, end) for later calls. */
  keep(from: bigint, end: bigint): void {
    this.next = from;
    this.end = end;
  }

  private issuer: Buffer | undefined;

  /**
   * Drops the block when the CA key signing with it changed (`ca regenerate` under a running
   * server): re-enrollment tracking counts a serial at or past the regeneration's first as
   * the new CA's, and a block reserved before it lies below (a gap, as after a crash).
   */
  signingWith(issuerSpki: Buffer): void {
    if (this.issuer && !this.issuer.equals(issuerSpki)) this.drain();
    this.issuer = issuerSpki;
  }

  /** The unused part, emptied: what can be handed back to the store. */
  drain(): { from: bigint; end: bigint } | undefined {
    if (this.next >= this.end) return undefined;
    const rest = { from: this.next, end: this.end };
    this.next = this.end;
    return rest;
  }
}

/** One reserve per store, shared by every CertificateAuthority on it (a reload makes a new one). */
const reserves = new WeakMap<CaStore, SerialReserve>();

export function serialReserveFor(store: CaStore): SerialReserve {
  let r = reserves.get(store);
  if (!r) reserves.set(store, (r = new SerialReserve()));
  return r;
}

/**
 * Gives unused reserved serials back when the store's counter still points just past them
 * (nobody allocated since), so a clean stop leaves no gap. Returns how many went back.
 */
export async function releaseReservedSerials(store: CaStore & { returnSerials?(from: bigint, end: bigint): Promise<boolean> }): Promise<number> {
  const rest = reserves.get(store)?.drain();
  if (!rest || typeof store.returnSerials !== "function") return 0;
  const given = await store.withLock(() => store.returnSerials!(rest.from, rest.end));
  return given ? Number(rest.end - rest.from) : 0;
}
