/**
 * Reading the CA for the console and scripts: the summary, pages of requests and
 * certificates with filters, one certificate by name, and one by serial. Domain values only
 * (Dates, bigint serials); the JSON API renders them. Lists are served from the index (the
 * inventory or a table), never by reading every certificate.
 */
import { parseCertificatePem } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import { slashName } from "../pki/name.js";
import type { CertificateAuthority } from "./authority.js";
import { CaError } from "./errors.js";
import { validateCertname } from "./names.js";
import type { RevocationRecord } from "./revocation.js";
import type { CertState } from "./status.js";
import type { IndexEntry, IndexSortKey, InventoryEntry } from "./store.js";
import { summarize } from "./summarize.js";

/** The largest page a list returns. */
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

export interface ListQuery {
  /** Which states to list; empty or absent: all three. */
  states?: readonly CertState[];
  /** A substring of the name (names are lower case; the search is too). */
  search?: string;
  /** Only certificates whose notAfter is before this time (requests have none, so none match). */
  expiresBefore?: Date;
  offset?: number;
  /** At most MAX_PAGE; default DEFAULT_PAGE. */
  limit?: number;
}

export interface Listed {
  entry: IndexEntry;
  state: CertState;
}

export interface Page<T> {
  /** How many match the filters, before paging. */
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

/** The orders a list offers (ties in name order, whichever the direction). */
export type SortKey = IndexSortKey;
export const SORT_KEYS: readonly SortKey[] = ["name", "notAfter", "state", "serial"];

const ALL_STATES: readonly CertState[] = ["requested", "signed", "revoked"];

/**
 * Requests and certificates matching the filters, one page of them, in the order asked
 * (name order by default). The store answers the page (CaStore.queryIndex) from orderings
 * it keeps or from SQL indexes: at 100,000 certificates no call passes over every entry.
 */
export async function listEntries(ca: CertificateAuthority, q: ListQuery = {}, sort: SortKey = "name", descending = false): Promise<Page<Listed>> {
  const offset = q.offset ?? 0;
  const limit = q.limit ?? DEFAULT_PAGE;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new CaError("invalid-request", `offset must be a whole number of 0 or more, not ${offset}`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new CaError("invalid-request", `limit must be a whole number from 1 to ${MAX_PAGE}, not ${limit}`);
  const states = q.states && q.states.length > 0 ? q.states : ALL_STATES;
  const page = await ca.store.queryIndex(
    { states, search: q.search?.toLowerCase(), expiresBefore: q.expiresBefore, sort, descending, offset, limit, revoked: await ca.revokedSerials() },
    summarize,
  );
  return { total: page.total, offset, limit, items: page.items };
}

/** A certificate the CA holds for a name, with what the console shows about it. */
export interface CertificateDetail {
  name: string;
  state: "signed" | "revoked";
  entry: IndexEntry;
  pem: string;
  fingerprints: { SHA1: string; SHA256: string; SHA512: string };
  /** The revocation record, when revoked (stores rebuild records for CRL entries they lack). */
  revocation?: RevocationRecord;
  /** The name also has a pending request (allow_duplicate_certs, or a request after a clean). */
  requestPending: boolean;
}

/** The certificate the CA holds for `name`; CaError not-found when it holds none. */
export async function certificateByName(ca: CertificateAuthority, name: string): Promise<CertificateDetail> {
  validateCertname(name);
  const { certificate, request } = await ca.store.getIndexEntry(name, summarize);
  const pem = certificate ? await ca.store.getCertificate(name) : undefined;
  if (!certificate || certificate.serial === undefined || !pem) {
    throw new CaError("not-found", request ? `${name} has a pending certificate request but no certificate` : `Could not find certificate ${name}`);
  }
  const der = parseCertificatePem(pem).der;
  const revoked = (await ca.revokedSerials()).has(certificate.serial);
  return {
    name,
    state: revoked ? "revoked" : "signed",
    entry: certificate,
    pem,
    fingerprints: { SHA1: fingerprint(der, "sha1"), SHA256: fingerprint(der), SHA512: fingerprint(der, "sha512") },
    ...(revoked ? { revocation: await ca.revocation(certificate.serial) } : {}),
    requestPending: request !== undefined,
  };
}

/** What the CA knows of one serial. */
export interface SerialDetail {
  serial: bigint;
  /** The certname it was issued to ("" when only the CRL knows the serial). */
  name: string;
  /** The name still holds this certificate: `certificate` is it. */
  current: boolean;
  certificate?: CertificateDetail;
  /** The inventory line, when the certificate was replaced or cleaned since. */
  inventory?: InventoryEntry;
  revocation?: RevocationRecord;
}

/** The certificate with this serial: its current holder, or the inventory line; CaError not-found otherwise. */
export async function certificateBySerial(ca: CertificateAuthority, serial: bigint): Promise<SerialDetail> {
  const holder = await ca.store.findBySerial(serial, summarize);
  const revocation = await ca.revocation(serial);
  if (holder) {
    // Read again by name: the holder may have been replaced since the serial lookup.
    const certificate = await certificateByName(ca, holder.name).catch((e: unknown) => {
      if (e instanceof CaError && e.kind === "not-found") return undefined;
      throw e;
    });
    if (certificate?.entry.serial === serial) return { serial, name: holder.name, current: true, certificate, ...(revocation ? { revocation } : {}) };
  }
  const inventory = (await ca.store.readInventory()).filter((i) => i.serial === serial).at(-1);
  if (!inventory && !revocation) throw new CaError("not-found", `No certificate with serial ${serial.toString(16).toUpperCase()} was issued by this CA`);
  const name = revocation?.name || cnOf(inventory?.subject) || "";
  return { serial, name, current: false, ...(inventory ? { inventory } : {}), ...(revocation ? { revocation } : {}) };
}

const cnOf = (subject: string | undefined): string | undefined => subject?.match(/(?:^|\/)CN=([^/]+)/)?.[1];

export interface CaSummary {
  subject: string;
  commonName: string;
  /** SHA-256, uppercase colon hex. */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
  /** How many certificates ca_crt.pem holds (1, or a chain). */
  chainLength: number;
  crl: { number: bigint; thisUpdate: Date; nextUpdate: Date; entries: number };
  counts: Record<CertState, number>;
  /** The serial the store hands out next (a running server reserves blocks, so it may be ahead). */
  nextSerial: bigint;
}

export async function caSummary(ca: CertificateAuthority): Promise<CaSummary> {
  const material = await ca.current();
  const counts: Record<CertState, number> = await ca.store.countIndex(await ca.revokedSerials(), summarize);
  const { cert, crl } = material;
  return {
    subject: slashName(cert.subject),
    commonName: cert.commonName,
    fingerprint: fingerprint(cert.der),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    chainLength: material.chain.length,
    crl: { number: crl.crlNumber, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, entries: crl.serials.size },
    counts,
    nextSerial: await ca.store.peekSerial(),
  };
}
