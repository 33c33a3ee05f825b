/**
 * After copying a CA from one store to another (`fleetca ca migrate`): what differs between them. Compared through
 * the store contract only: the CA certificate, the CRL, every request and certificate (name, fingerprint, serial),
 * the inventory's serials, the revocation records, and the serial counter (the copy must not issue a serial again).
 */
import { serialHex } from "./audit.js";
import type { CaStore, Summarize } from "./store.js";

export interface StoreFigures {
  requests: number;
  certificates: number;
  inventory: number;
  revocations: number;
  nextSerial: bigint;
}

async function snapshot(store: CaStore, summarize: Summarize) {
  const material = await store.loadCaMaterial();
  const index = await store.listIndex(summarize);
  const entries = index.map((e) => `${e.state} ${e.name} ${e.sha256} ${e.serial === undefined ? "-" : serialHex(e.serial)}`).sort();
  const inventory = (await store.readInventory()).map((e) => serialHex(e.serial)).sort();
  const revocations = (await store.listRevocations()).map((r) => serialHex(r.serial)).sort();
  return {
    certPem: material.certPem.trim(),
    crlPem: (await store.getCrl()).trim(),
    entries,
    inventory,
    revocations,
    figures: {
      requests: index.filter((e) => e.state === "requested").length,
      certificates: index.filter((e) => e.state === "signed").length,
      inventory: inventory.length,
      revocations: revocations.length,
      nextSerial: await store.peekSerial(),
    } satisfies StoreFigures,
  };
}

function listDiff(what: string, a: string[], b: string[]): string[] {
  const inB = new Set(b);
  const inA = new Set(a);
  const missing = a.filter((x) => !inB.has(x));
  const extra = b.filter((x) => !inA.has(x));
  const out: string[] = [];
  if (missing.length > 0) out.push(`${what}: ${missing.length} missing from the copy (first: ${missing[0]})`);
  if (extra.length > 0) out.push(`${what}: ${extra.length} in the copy only (first: ${extra[0]})`);
  return out;
}

/** The figures of both stores and every difference found (none: the copy is faithful). */
export async function compareStores(source: CaStore, copy: CaStore, summarize: Summarize): Promise<{ source: StoreFigures; copy: StoreFigures; problems: string[] }> {
  const a = await snapshot(source, summarize);
  const b = await snapshot(copy, summarize);
  const problems: string[] = [];
  if (a.certPem !== b.certPem) problems.push("the CA certificate differs");
  if (a.crlPem !== b.crlPem) problems.push("the CRL differs");
  problems.push(...listDiff("requests and certificates", a.entries, b.entries));
  problems.push(...listDiff("inventory serials", a.inventory, b.inventory));
  problems.push(...listDiff("revoked serials", a.revocations, b.revocations));
  if (b.figures.nextSerial < a.figures.nextSerial) {
    problems.push(`the copy's next serial ${serialHex(b.figures.nextSerial)} is below the source's ${serialHex(a.figures.nextSerial)}: it would issue serials again`);
  }
  return { source: a.figures, copy: b.figures, problems };
}
