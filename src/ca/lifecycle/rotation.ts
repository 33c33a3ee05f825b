/**
 * A planned rotation's overlap (`ca regenerate --mode rotate --overlap DUR`): until its end the
 * old CA is trusted beside the new one. Agents are served both CA certificates (the new one
 * first: it is the issuing CA, the one whose CRL comes first and whose fingerprint agents
 * pin) and both CRLs (Puppet agents check a CRL for every CA of a chain, so a node holding an
 * old-CA certificate needs the old CA's CRL, and every node needs the new CA's to verify a
 * server certificate of the new CA). After the end, only the new CA.
 *
 * The tracking record is read at most once a second per store and process: servers consult
 * this on every CA bundle, CRL and old-certificate request.
 */
import { parseCertificateChain, parseCertificatePem, verifySignedBy, type ParsedCertificate } from "../../pki/certificate.js";
import { crlStateFromPem } from "../../pki/crl.js";
import { auditRecord } from "../audit.js";
import { CaError } from "../errors.js";
import type { Principal } from "../principal.js";
import { StoreUnavailableError, type CaStore, type RegenerationState } from "../store.js";
import { summarize } from "../summarize.js";

export interface RotationOverlap {
  until: Date;
  oldCa: ParsedCertificate;
  oldCaCertPem: string;
  /** The old CA's last CRL ("" for a rotation recorded before it was kept), and what it lists. */
  oldCrlPem: string;
  oldRevoked: ReadonlySet<bigint>;
}

/** What servers need of the regeneration being tracked. */
export interface RegenerationView {
  mode: RegenerationState["mode"];
  /** The old CA's nodes. */
  names: ReadonlySet<string>;
  /** rotate: the overlap, whether or not it is over. */
  overlap?: RotationOverlap;
}

interface Cached {
  at: number;
  view: Promise<RegenerationView | undefined>;
  /** The CA certificate the caller had when it was read, and whether an overlap was running then. */
  caDer?: Buffer;
  overlapRunning?: boolean;
}
const cache = new WeakMap<object, Cached>();

/** The last view read, for when the store is out of reach. */
const lastRead = new WeakMap<object, { view: RegenerationView | undefined }>();

/** The tracking record read now; with the store out of reach, the last one read (as the CA's material is: the CA certificate and CRL, which depend on it, go on being served from memory). */
function readView(store: CaStore): Promise<RegenerationView | undefined> {
  return store.readTracking().then(
    (t) => {
      const read = t ? viewOf(t.state, t.nodes.map((n) => n.name)) : undefined;
      lastRead.set(store, { view: read });
      return read;
    },
    (e: unknown) => {
      const last = lastRead.get(store);
      if (e instanceof StoreUnavailableError && last) return last.view;
      throw e;
    },
  );
}

/**
 * The tracked regeneration, re-read when the cached copy is a second old. Callers that pass
 * the CA certificate they serve keep a copy without a running overlap for a minute while that
 * certificate stays the same: only a regeneration (which replaces it) starts an overlap, and
 * the tracking record of a finished one may list 100,000 names.
 */
export function regenerationView(store: CaStore, now: Date, caDer?: Buffer): Promise<RegenerationView | undefined> {
  const hit = cache.get(store);
  const age = Math.abs(now.getTime() - (hit?.at ?? 0));
  // A caller serving another CA certificate than the one the copy was read under has seen a
  // regeneration land: the copy may predate its tracking record, however young it is.
  const sameCa = !caDer || !hit?.caDer || hit.caDer.equals(caDer);
  if (hit && sameCa && age < 1000) return hit.view;
  if (hit && caDer && hit.caDer?.equals(caDer) && hit.overlapRunning === false && age < 60_000) return hit.view;
  const entry: Cached = { at: now.getTime(), view: readView(store), caDer };
  entry.view.then(
    (v) => void (entry.overlapRunning = v?.overlap !== undefined && now < v.overlap.until),
    // A failed read is not remembered: the next caller tries again.
    () => cache.get(store) === entry && cache.delete(store),
  );
  cache.set(store, entry);
  return entry.view;
}

function viewOf(state: RegenerationState, names: string[]): RegenerationView {
  const base = { mode: state.mode, names: new Set(names) };
  if (!state.overlapUntil || !state.oldCaCertPem) return base;
  const oldCrlPem = state.oldCrlPem ?? "";
  return {
    ...base,
    overlap: {
      until: state.overlapUntil,
      oldCa: parseCertificatePem(state.oldCaCertPem),
      oldCaCertPem: state.oldCaCertPem,
      oldCrlPem,
      oldRevoked: oldCrlPem ? crlStateFromPem(oldCrlPem).serials : new Set(),
    },
  };
}

/** The overlap when it is still running at `now`. */
export async function activeOverlap(store: CaStore, now: Date): Promise<RotationOverlap | undefined> {
  const o = (await regenerationView(store, now))?.overlap;
  return o && now < o.until ? o : undefined;
}

/** True when the old CA of the overlap signed `cert`. */
export function signedByOldCa(cert: ParsedCertificate, o: RotationOverlap): boolean {
  return cert.issuerDer.equals(o.oldCa.subjectDer) && verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, o.oldCa.spki);
}

/** The CA bundle to serve: the CA's own certificate(s), then the old CA's during the overlap. */
export const caBundle = (caPem: string, o: RotationOverlap | undefined): string => (o ? joinPem(caPem, o.oldCaCertPem) : caPem);

/** The CRLs to serve: the CA's own (and its outer CAs'), then the old CA's during the overlap. */
export const crlBundle = (crlPem: string, o: RotationOverlap | undefined): string => (o?.oldCrlPem ? joinPem(crlPem, o.oldCrlPem) : crlPem);

const joinPem = (a: string, b: string): string => `${a.endsWith("\n") ? a : `${a}\n`}${b}`;

/**
 * When what the bundle endpoints serve last changed because of the overlap: its end, once it
 * is over (agents asking If-Modified-Since must fetch the shorter bundle), else undefined.
 */
export function overlapChangedAt(view: RegenerationView | undefined, now: Date): Date | undefined {
  const until = view?.overlap?.until;
  return until && now >= until ? until : undefined;
}

/**
 * Ends a rotation's overlap now (every node has moved, or the old CA must go sooner): servers
 * stop trusting the old CA within a second and switch to their new-CA certificate. Audited.
 */
export async function endOverlap(store: CaStore, now: Date, by: Principal): Promise<Date> {
  const t = await store.readTracking();
  const until = t?.state.overlapUntil;
  if (!t || t.state.mode !== "rotate" || !until) {
    throw new CaError("not-found", "No rotation is being tracked: only `fleetca ca regenerate --mode rotate --overlap DUR` starts an overlap to end.");
  }
  if (until <= now) return until;
  await store.endOverlap(now);
  cache.delete(store);
  const retired = await retireOldCertificates(store, now);
  await store.appendAudit([
    auditRecord(now, "overlap-ended", by, { detail: `old CA ${t.state.oldCaFingerprint} no longer trusted (the overlap was to end ${until.toISOString()}); ${retired.length} certificate(s) of the old CA removed` }),
  ]);
  return now;
}

/**
 * Once a rotation's overlap is over, the old CA's certificates still listed are void: they are
 * removed (not revoked: nothing trusts their CA any more), so that their nodes can enroll again
 * under the same names, as after a compromise. Returns their names. Idempotent: servers call it
 * when they see the overlap end, and at start.
 */
export async function retireOldCertificates(store: CaStore, now: Date): Promise<string[]> {
  const t = await store.readTracking();
  if (!t || t.state.mode !== "rotate" || !t.state.overlapUntil || now < t.state.overlapUntil) return [];
  const first = t.state.firstNewSerial;
  const current = parseCertificateChain((await store.loadCaMaterial()).certPem)[0]!;
  return store.withLock(async () => {
    const retired: string[] = [];
    for (const e of await store.listIndex(summarize)) {
      if (e.state !== "signed" || e.serial === undefined || e.serial >= first) continue;
      // The serial says "issued before the regeneration"; the signature is checked all the same
      // before anything is removed (a server's serials reserved before it, used just after).
      const pem = await store.getCertificate(e.name);
      const cert = pem ? parseCertificatePem(pem) : undefined;
      if (cert && verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, current.spki)) continue;
      if (await store.deleteCertificate(e.name)) retired.push(e.name);
    }
    return retired;
  });
}
