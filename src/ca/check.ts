/**
 * `ca check`: is this CA consistent, whatever crashed while it worked? Every check reads the
 * store contract only (store.ts; the file store's leftovers through its optional capability),
 * so it holds for every store and for any later durability scheme beneath them:
 *   serial      the counter is above every serial issued (inventory, certificates, revocations)
 *   serials     no serial was issued twice
 *   inventory   every certificate has its inventory line (serial and subject)
 *   signatures  every certificate is signed by this CA and readable (strict DER, OpenSSL)
 *   crl         the CRL is signed by this CA, current, and lists every recorded revocation
 *   requests    no name holds both a request and the certificate issued from it
 *   leftovers   no temporary file of an interrupted write is left
 * With `repair`, what can be fixed without judgement is fixed, under the CA lock: the counter
 * moved past the highest serial, missing inventory lines appended, revocations published (the
 * CRL signed again when it is stale or badly signed), signed requests removed, stale temporary
 * files removed. A certificate that does not verify or a serial issued twice is reported, never
 * "fixed": which one is right needs a person.
 */
import { parseCertificatePem, unreadableBecause, verifySignedBy, type ParsedCertificate } from "../pki/certificate.js";
import { crlStateFromPem } from "../pki/crl.js";
import { crlSignedBy } from "../pki/crl-verify.js";
import { fromPem } from "../pki/pem.js";
import { serialHex } from "./audit.js";
import { loadMaterial } from "./material.js";
import { removeSignedRequests, signedRequests } from "./recovery.js";
import { isBatchStore, isLeftoverStore, type CaStore, type InventoryEntry } from "./store.js";
import { summarize } from "./summarize.js";

export const CHECKS = ["serial", "serials", "inventory", "signatures", "crl", "requests", "leftovers"] as const;
export type CheckName = (typeof CHECKS)[number];

export interface CheckResult {
  check: CheckName;
  /** What was wrong, one line each; empty when the check passed. */
  problems: string[];
  /** What --repair did about them. */
  repaired: string[];
  /** What is still wrong after the repair (without --repair: the problems). */
  remaining: string[];
}

export interface CheckReport {
  ok: boolean;
  results: CheckResult[];
  counts: { certificates: number; requests: number; inventory: number; revocations: number };
}

export interface CheckDeps {
  store: CaStore;
  clock: () => Date;
  /** Publishes recorded revocations the CRL lacks; returns how many (CertificateAuthority.repairCrl). */
  repairCrl: () => Promise<number>;
  /** Signs the CRL again now (CertificateAuthority.refreshCrl with force). */
  resignCrl: () => Promise<void>;
}

/** Checks the CA; with `repair`, repairs, then checks again to say what is left. */
export async function checkCa(d: CheckDeps, opts: { repair: boolean }): Promise<CheckReport> {
  const first = await checkOnce(d, opts.repair);
  const last = opts.repair && !first.every((r) => r.problems.length === 0) ? await checkOnce(d, false) : first;
  const results = first.map((r, i): CheckResult => ({ check: r.check, problems: r.problems, repaired: r.repaired, remaining: last[i]!.problems }));
  const counts = await countsOf(d.store);
  return { ok: results.every((r) => r.remaining.length === 0), results, counts };
}

async function countsOf(store: CaStore): Promise<CheckReport["counts"]> {
  const index = await store.listIndex(summarize);
  const certificates = index.filter((e) => e.state === "signed").length;
  return { certificates, requests: index.length - certificates, inventory: (await store.readInventory()).length, revocations: (await store.listRevocations()).length };
}

interface Pass {
  check: CheckName;
  problems: string[];
  repaired: string[];
}

async function checkOnce(d: CheckDeps, repair: boolean): Promise<Pass[]> {
  const opts = { repair };
  const { store } = d;
  const results: Pass[] = [];
  const result = (check: CheckName): Pass => {
    const r: Pass = { check, problems: [], repaired: [] };
    results.push(r);
    return r;
  };
  const index = await store.listIndex(summarize);
  const certs = index.filter((e) => e.state === "signed");
  const inventory = await store.readInventory();
  const revocations = await store.listRevocations();
  const material = loadMaterial(await store.loadCaMaterial(), "check");
  const now = d.clock();

  // serials issued twice: one serial on two inventory lines of different subjects, or two certificates
  const serials = result("serials");
  const subjectOf = new Map<bigint, string>();
  for (const line of inventory) {
    const seen = subjectOf.get(line.serial);
    if (seen !== undefined && seen !== line.subject) serials.problems.push(`serial ${serialHex(line.serial)} was issued twice: to ${seen} and to ${line.subject} (inventory)`);
    subjectOf.set(line.serial, line.subject);
  }
  const holder = new Map<bigint, string>();
  for (const c of certs) {
    const other = holder.get(c.serial!);
    if (other !== undefined) serials.problems.push(`serial ${serialHex(c.serial!)} is held by two certificates: ${other} and ${c.name}`);
    holder.set(c.serial!, c.name);
  }

  // the counter above every serial issued
  const serial = result("serial");
  const next = await store.peekSerial();
  let highest = material.cert.serial;
  for (const s of [...inventory.map((l) => l.serial), ...certs.map((c) => c.serial!), ...revocations.map((r) => r.serial)]) if (s > highest) highest = s;
  if (next <= highest) {
    serial.problems.push(`the next serial is ${serialHex(next)}, but ${serialHex(highest)} was already issued: the next certificate would reuse a serial`);
    if (opts.repair) {
      const moved = await store.withLock(async () => {
        const now2 = await store.peekSerial();
        if (now2 > highest) return now2;
        const count = Number(highest + 1n - now2);
        if (isBatchStore(store)) await store.allocateSerials(count);
        else for (let i = 0; i < count; i++) await store.allocateSerial();
        return store.peekSerial();
      });
      serial.repaired.push(`moved the next serial to ${serialHex(moved)}`);
    }
  }

  // every certificate has its inventory line
  const inv = result("inventory");
  const lines = new Map<bigint, InventoryEntry[]>();
  for (const l of inventory) lines.set(l.serial, [...(lines.get(l.serial) ?? []), l]);
  const missing: string[] = [];
  for (const c of certs) {
    const mine = (lines.get(c.serial!) ?? []).filter((l) => l.subject === `/CN=${c.name}`);
    if (mine.length === 0) {
      inv.problems.push(`${c.name} (serial ${serialHex(c.serial!)}) has no inventory line`);
      missing.push(c.name);
    }
  }

  // every certificate signed by this CA and readable
  const sigs = result("signatures");
  for (const c of certs) {
    const pem = await store.getCertificate(c.name);
    if (pem === undefined) continue;
    let why: string | undefined;
    try {
      const cert: ParsedCertificate = parseCertificatePem(pem);
      why = unreadableBecause(cert);
      if (!why && (!cert.issuerDer.equals(material.cert.subjectDer) || !verifies(cert, material.cert.spki))) why = "it is not signed by this CA's key";
      if (!why && cert.commonName !== c.name) why = `its subject is ${cert.commonName}, not ${c.name}`;
      if (!why && missing.includes(c.name) && opts.repair) {
        await store.withLock(() => store.putCertificate(c.name, pem, { serial: cert.serial, notBefore: cert.notBefore, notAfter: cert.notAfter, subject: `/CN=${c.name}` }, c));
        inv.repaired.push(`appended the inventory line of ${c.name}`);
      }
    } catch (e) {
      why = `it cannot be parsed (${(e as Error).message})`;
    }
    if (why) sigs.problems.push(`${c.name}: ${why}`);
  }

  // the CRL: signed, current, complete
  const crl = result("crl");
  const crlPem = await store.getCrl();
  let crlSigned = false;
  let listed: ReadonlySet<bigint> = new Set();
  try {
    const state = crlStateFromPem(crlPem);
    listed = state.serials;
    crlSigned = crlSignedBy(fromPem(crlPem, ["X509 CRL"], "CRL"), material.cert.spki) && state.issuer.equals(material.cert.subjectDer);
    if (!crlSigned) crl.problems.push("the CRL is not signed by this CA");
    if (state.nextUpdate.getTime() <= now.getTime()) crl.problems.push(`the CRL expired at ${state.nextUpdate.toISOString()} (nextUpdate)`);
  } catch (e) {
    crl.problems.push(`the CRL cannot be read: ${(e as Error).message}`);
  }
  const expiry = new Map(inventory.map((l) => [l.serial, l.notAfter.getTime()]));
  const unlisted = revocations.filter((r) => !listed.has(r.serial) && (expiry.get(r.serial) ?? Infinity) > now.getTime());
  if (unlisted.length > 0) crl.problems.push(`${unlisted.length} recorded revocation(s) are missing from the CRL: ${unlisted.slice(0, 5).map((r) => serialHex(r.serial)).join(", ")}${unlisted.length > 5 ? ", ..." : ""}`);
  if (opts.repair && crl.problems.length > 0) {
    const added = await d.repairCrl();
    if (added > 0) crl.repaired.push(`published ${added} recorded revocation(s)`);
    else {
      await d.resignCrl();
      crl.repaired.push("signed the CRL again");
    }
  }

  // requests already signed
  const reqs = result("requests");
  const done = opts.repair ? await removeSignedRequests(store, d.clock) : await signedRequests(store);
  for (const s of done) reqs.problems.push(`${s.name} holds both a request and the certificate issued from it (serial ${serialHex(s.serial)}): sign --all would sign it again`);
  if (opts.repair) for (const s of done) reqs.repaired.push(`removed the request of ${s.name}`);

  // temporary files of interrupted writes
  const left = result("leftovers");
  if (isLeftoverStore(store)) {
    for (const l of await store.leftovers()) left.problems.push(`${l.path}: a temporary file ${l.stale ? "of a writer that is gone" : "of a running writer (it may be writing now)"}`);
    if (opts.repair) for (const p of await store.removeLeftovers()) left.repaired.push(`removed ${p}`);
  }

  results.sort((a, b) => CHECKS.indexOf(a.check) - CHECKS.indexOf(b.check));
  return results;
}

function verifies(cert: ParsedCertificate, caSpki: Buffer): boolean {
  try {
    return verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, caSpki);
  } catch {
    return false;
  }
}
