/**
 * Finishing what a crash interrupted, through the store contract alone. A signing stores the
 * certificate before it removes the request (never the other way: a crash must not lose
 * both), so a crash in between leaves a name holding its request and the certificate issued
 * from it. Left alone, the next `sign --all` signs that request again: two valid certificates
 * for one key, the first never revoked. A request is "issued from" when the certificate
 * carries the request's public key; such a request is done, and is removed.
 */
import { parseCertificatePem } from "../pki/certificate.js";
import { parseCsrPem } from "../pki/csr.js";
import { auditRecord, type AuditRecord } from "./audit.js";
import { systemPrincipal } from "./principal.js";
import { isRequestNamesStore, type CaStore } from "./store.js";
import { summarize } from "./summarize.js";

export interface SignedRequest {
  name: string;
  /** The serial of the certificate issued from the request. */
  serial: bigint;
}

const RECOVERY = systemPrincipal("recovery");

/** Names whose pending request already has its certificate (same public key). Reads only. */
export async function signedRequests(store: CaStore): Promise<SignedRequest[]> {
  const out: SignedRequest[] = [];
  for (const name of await namesWithBoth(store)) {
    const [csrPem, certPem] = await Promise.all([store.getRequest(name), store.getCertificate(name)]);
    if (!csrPem || !certPem) continue;
    let same: { serial: bigint } | undefined;
    try {
      const cert = parseCertificatePem(certPem);
      if (parseCsrPem(csrPem).spki.equals(cert.spki)) same = { serial: cert.serial };
    } catch {
      // An unreadable file is `ca check`'s to report, not recovery's to remove.
    }
    if (same) out.push({ name, serial: same.serial });
  }
  return out;
}

/**
 * Names holding both a request and a certificate. From the pending requests alone when the
 * store can list them (a server starting on a million certificates must not load them all
 * for the few requests it has), else from the whole index.
 */
async function namesWithBoth(store: CaStore): Promise<string[]> {
  if (isRequestNamesStore(store)) {
    const out: string[] = [];
    // getCertificate, not getIndexEntry: with the index not loaded, the file store answers
    // getIndexEntry by reading and parsing both of the name's files, ~0.3 ms a request, which
    // made this look ~3 s of a `sign --all` of 10,000; a missing certificate is one failed open.
    // A certificate file that does not parse is passed on: signedRequests parses it and leaves it.
    for (const name of await store.requestNames()) if ((await store.getCertificate(name)) !== undefined) out.push(name);
    return out;
  }
  const index = await store.listIndex(summarize);
  const requested = new Set(index.filter((e) => e.state === "requested").map((e) => e.name));
  return index.filter((e) => e.state === "signed" && requested.has(e.name)).map((e) => e.name);
}

/**
 * Removes the requests of signedRequests, under the CA lock (checked again inside it, so a
 * request submitted meanwhile with a new key stays), each with an audit record. Returns them.
 */
export async function removeSignedRequests(store: CaStore, now: () => Date): Promise<SignedRequest[]> {
  if ((await signedRequests(store)).length === 0) return [];
  return store.withLock(async () => {
    const found = await signedRequests(store);
    const audit: AuditRecord[] = [];
    for (const f of found) {
      await store.deleteRequest(f.name);
      audit.push(auditRecord(now(), "rejected", RECOVERY, { names: [f.name], serials: [f.serial], detail: "the request was already signed (a signing interrupted before it removed the request)" }));
    }
    if (audit.length > 0) await store.appendAudit(audit);
    return found;
  });
}
