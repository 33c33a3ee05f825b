/**
 * The OCSP responder's rules (RFC 6960): for each certificate asked about, its status from
 * the revocation records (never from the CRL), signed by the CA key or a delegated responder.
 *
 * - **unknown**: the CertID names another issuer (its name and key hashes are not this CA's,
 *   or its hash algorithm is not one fleetca computes), or a serial this CA has not handed out
 *   yet (at or past the store's next serial; 0 and negatives too).
 * - **revoked**: the serial has a revocation record: its time and reason.
 * - **good**: any other serial below the next serial. RFC 6960 2.2 lets "good" mean "not
 *   revoked"; telling apart serials that were reserved (serial-reserve.ts) but never used
 *   would need the whole inventory in memory, and all they could be told is "unknown".
 *
 * A response cache holds signed answers to nonce-less requests, keyed by the request's
 * bytes. It caches the signature, not the status: a hit is served only after each "good" in
 * it is checked again against the store's record for its serial (in the file store a Map
 * lookup after two stats that follow other processes; in PostgreSQL a primary-key read), so
 * a revocation made anywhere is in the next answer. "revoked" stays revoked; an entry is
 * dropped when the CA or the signer changes, and answers older than half their validity are
 * signed again. Requests with a nonce are answered fresh and never cached.
 */
import { createHash } from "node:crypto";
import {
  ocspErrorResponse, OCSP_HASHES, parseOcspRequest, signOcspResponse, singleResponse, subjectKeyHash,
  type CertId, type OcspCertStatus, type OcspErrorStatus, type OcspHash, type OcspSigningKey,
} from "../pki/ocsp.js";
import { CaError } from "./errors.js";
import type { LoadedMaterial } from "./material.js";
import type { CaReader } from "./reader.js";
import { StoreUnavailableError } from "./store.js";
import { reasonCode } from "./revocation.js";

/** Signed answers kept; a FIFO past this (each entry is an answer of a few hundred bytes to 2 KB). */
export const DEFAULT_CACHE_ENTRIES = 20_000;

export interface OcspResponderDeps {
  /** The CA to answer for (a getter: the server replaces its CA on reload). */
  reader: () => CaReader;
  /** Who signs now; throws OcspUnavailable (or a CaError) when nobody can (the answer is tryLater). */
  signer: () => OcspSigningKey | Promise<OcspSigningKey>;
  /** Seconds from thisUpdate to nextUpdate (a getter: the ocsp_ttl setting may be reloaded). */
  ttlSeconds: () => number;
  clock?: () => Date;
  cacheEntries?: number;
}

/** The signer cannot sign now (its certificate could not be issued, or the CA key is unavailable). */
export class OcspUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OcspUnavailable";
  }
}

export interface OcspAnswer {
  /** The OCSPResponse DER: always something to send, with HTTP 200. */
  readonly der: Buffer;
  readonly status: "successful" | OcspErrorStatus;
  /** For a successful answer: when it stops being valid (HTTP caching, RFC 5019). */
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
  readonly cached?: boolean;
  /** Why it is not successful, for the log. */
  readonly reason?: string;
  /** The unexpected failure behind an internalError, for the log. */
  readonly error?: unknown;
}

interface Entry {
  readonly der: Buffer;
  /** The CA certificate (PEM) it was answered for: reloading the same CA keeps the entry. */
  readonly caPem: string;
  readonly signer: OcspSigningKey;
  /** Serials answered "good": each is checked again on every hit. */
  readonly good: readonly bigint[];
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Signed again after this (ms since the epoch). */
  readonly refreshAt: number;
}

type IssuerHashes = Record<OcspHash, { name: Buffer; key: Buffer }>;
const issuerHashes = new WeakMap<LoadedMaterial, IssuerHashes>();

function hashesOf(m: LoadedMaterial): IssuerHashes {
  let h = issuerHashes.get(m);
  if (!h) {
    h = {} as IssuerHashes;
    for (const alg of OCSP_HASHES) h[alg] = { name: createHash(alg).update(m.cert.subjectDer).digest(), key: subjectKeyHash(m.cert.spki, alg) };
    issuerHashes.set(m, h);
  }
  return h;
}

function ours(id: CertId, m: LoadedMaterial): boolean {
  if (!id.hash) return false;
  const h = hashesOf(m)[id.hash];
  return id.issuerNameHash.equals(h.name) && id.issuerKeyHash.equals(h.key);
}

export class OcspResponder {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry | OcspAnswer>>();
  private readonly clock: () => Date;
  private readonly maxEntries: number;
  /** The store's next serial as last read: serials below it were handed out (it only grows). */
  private nextSerial = 0n;
  private nextSerialOf?: CaReader;

  constructor(private readonly d: OcspResponderDeps) {
    this.clock = d.clock ?? (() => new Date());
    this.maxEntries = d.cacheEntries ?? DEFAULT_CACHE_ENTRIES;
  }

  /** Answers one OCSPRequest (DER). Never throws: every failure is an OCSP error status. */
  async respond(request: Uint8Array): Promise<OcspAnswer> {
    const parsed = parseOcspRequest(request);
    if (!parsed.ok) return { der: ocspErrorResponse("malformedRequest"), status: "malformedRequest", reason: parsed.reason };
    try {
      const reader = this.d.reader();
      const material = await reader.current();
      const signer = await this.d.signer();
      if (parsed.request.nonce) return answerOf(await this.sign(reader, material, signer, parsed.request.certIds, parsed.request.nonce), false);
      const key = Buffer.from(request).toString("latin1");
      const hit = this.cache.get(key);
      if (hit && (await this.fresh(hit, reader, material, signer))) return answerOf(hit, true);
      let pending = this.inFlight.get(key);
      if (pending) {
        const joined = await pending;
        if (!isEntry(joined)) return joined;
        if (await this.fresh(joined, reader, material, signer)) return answerOf(joined, true);
      }
      pending = this.sign(reader, material, signer, parsed.request.certIds, undefined)
        .then((entry) => {
          if (cacheable(entry)) this.remember(key, entry);
          return entry;
        })
        .catch((e: unknown) => failure(e))
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
      const made = await pending;
      return isEntry(made) ? answerOf(made, false) : made;
    } catch (e) {
      return failure(e);
    }
  }

  /** Forgets every cached answer (tests; a CA change does it by itself). */
  clear(): void {
    this.cache.clear();
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
  }

  /** A cached answer may be served: same CA and signer, not due for signing again, and nothing in it revoked since. */
  private async fresh(e: Entry, reader: CaReader, material: LoadedMaterial, signer: OcspSigningKey): Promise<boolean> {
    if (e.caPem !== material.raw.certPem || e.signer !== signer || this.clock().getTime() >= e.refreshAt) return false;
    for (const serial of e.good) {
      if ((await reader.revocation(serial)) !== undefined) return false;
    }
    return true;
  }

  private async sign(reader: CaReader, material: LoadedMaterial, signer: OcspSigningKey, ids: readonly CertId[], nonce: Buffer | undefined): Promise<Entry & { neverIssued: boolean }> {
    const now = this.clock();
    // Whole seconds: the times are written to the second, and thisUpdate must not be after now.
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const ttl = this.d.ttlSeconds();
    const nextUpdate = new Date(thisUpdate.getTime() + ttl * 1000);
    const good: bigint[] = [];
    let neverIssued = false;
    const responses: Buffer[] = [];
    for (const id of ids) {
      const status = await this.statusOf(reader, material, id);
      if (status.kind === "good") good.push(id.serial);
      if (status.kind === "unknown" && ours(id, material)) neverIssued = true;
      responses.push(singleResponse({ certIdDer: id.der, status, thisUpdate, nextUpdate }));
    }
    const der = await signOcspResponse({ producedAt: thisUpdate, responses, nonce }, signer);
    return { der, caPem: material.raw.certPem, signer, good, thisUpdate, nextUpdate, refreshAt: thisUpdate.getTime() + (ttl * 1000) / 2, neverIssued };
  }

  private async statusOf(reader: CaReader, material: LoadedMaterial, id: CertId): Promise<OcspCertStatus> {
    if (!ours(id, material)) return { kind: "unknown" };
    const record = await reader.revocation(id.serial);
    if (record) return { kind: "revoked", at: record.revokedAt, reasonCode: reasonCode(record.reason) };
    return (await this.handedOut(reader, id.serial)) ? { kind: "good" } : { kind: "unknown" };
  }

  /** True when the store has handed `serial` out: it is below the store's next serial. */
  private async handedOut(reader: CaReader, serial: bigint): Promise<boolean> {
    if (serial < 1n) return false;
    if (this.nextSerialOf !== reader) {
      this.nextSerialOf = reader;
      this.nextSerial = 0n;
    }
    if (serial < this.nextSerial) return true;
    // Read again only for serials past the last reading: they may have been issued since.
    const next = await reader.store.peekSerial();
    if (next > this.nextSerial) this.nextSerial = next;
    return serial < this.nextSerial;
  }
}

/** Answers naming a serial not yet handed out are not cached: that serial may be issued next. */
function cacheable(e: Entry & { neverIssued?: boolean }): boolean {
  return e.neverIssued !== true;
}

function isEntry(x: Entry | OcspAnswer): x is Entry {
  return (x as Entry).caPem !== undefined;
}

function answerOf(e: Entry, cached: boolean): OcspAnswer {
  return { der: e.der, status: "successful", thisUpdate: e.thisUpdate, nextUpdate: e.nextUpdate, cached };
}

function failure(e: unknown): OcspAnswer {
  const cannotNow = e instanceof StoreUnavailableError || (e instanceof CaError && e.kind === "key-unavailable");
  if (cannotNow || e instanceof OcspUnavailable || (e instanceof CaError && (e.kind === "not-initialized" || e.kind === "invalid-ca-material"))) {
    return { der: ocspErrorResponse("tryLater"), status: "tryLater", reason: (e as Error).message };
  }
  return { der: ocspErrorResponse("internalError"), status: "internalError", reason: (e as Error)?.message, error: e };
}
