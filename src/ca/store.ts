/**
 * The storage contract the CA needs, declared where it is used (DESIGN.md).
 * Implementations: store/file (Puppet Server CA directory layout) and store/postgres.
 *
 * All PEM text crossing this interface is exactly what Puppet keeps on disk, so a file
 * store can be shared with Puppet's own tools. Names passed in have already been
 * validated by ca/names.ts; a store must still refuse anything that would escape its root.
 */

import type { AuditQuery, AuditRecord } from "./audit.js";
import type { AccountStore } from "./console/accounts.js";
import type { RevocationRecord } from "./revocation.js";

export type { AuditQuery, AuditRecord } from "./audit.js";
/** The audit query filter, for stores that cannot filter natively (part of the contract, like the types). */
export { auditMatches } from "./audit.js";
export type { RevocationRecord } from "./revocation.js";
export type { AccountStore, ConsoleSession, ConsoleUser, LoginCounter } from "./console/accounts.js";

/** The CA's own credentials. `certPem` may be a chain (CA first), as Puppet's ca_crt.pem. */
export interface CaMaterial {
  certPem: string;
  /** "" when the store cannot give the key (keyProblem says why). */
  keyPem: string;
  publicKeyPem: string;
  crlPem: string;
  /**
   * Why the key is not available (a PostgreSQL store without the passphrase, or with a wrong
   * one): the CA still serves its certificate, CRL and certificates, and refuses to sign.
   */
  keyProblem?: string;
}

/** One line of Puppet's inventory.txt. */
export interface InventoryEntry {
  serial: bigint;
  notBefore: Date;
  notAfter: Date;
  /** e.g. "/CN=agent1.example.com" */
  subject: string;
}

/** What `list`, `certificate_statuses` and the console show, without re-reading PEM files. */
export interface IndexEntry {
  name: string;
  state: "requested" | "signed";
  /** SHA-256 fingerprint of the DER (cert or CSR), uppercase colon hex. */
  sha256: string;
  /** e.g. ["DNS:a", "IP:10.0.0.1"]: subject alternative names, as Puppet shows them. */
  altNames: string[];
  /** Authorization extensions by Puppet short name, e.g. { pp_cli_auth: "true" }. */
  authExtensions: Record<string, string>;
  /** Only for state "signed". */
  serial?: bigint;
  notBefore?: Date;
  notAfter?: Date;
}

/** An entry's state in a listing: a signed certificate is "revoked" when the CA's CRL lists its serial. */
export type ListedState = "requested" | "signed" | "revoked";
export type IndexSortKey = "name" | "notAfter" | "state" | "serial";

/**
 * What queryIndex answers. Orders: by name in code-unit order (a request before a
 * certificate of the same name); by another key, ties in name order whichever the
 * direction; states order as their names do (requested, revoked, signed); entries without
 * notAfter or serial (requests) sort as 0.
 */
export interface IndexQuery {
  /** Non-empty. */
  states: readonly ListedState[];
  /** A lower-case substring of the name. */
  search?: string;
  /** Only entries whose notAfter is before this time (requests have none, so none match). */
  expiresBefore?: Date;
  sort: IndexSortKey;
  descending: boolean;
  offset: number;
  limit: number;
  /** The serials the CA's current CRL lists: the CA decides what is revoked, the store only filters. */
  revoked: ReadonlySet<bigint>;
}

export interface IndexPage {
  /** How many entries match, before paging. */
  total: number;
  items: { entry: IndexEntry; state: ListedState }[];
}

/**
 * Summarises a PEM (CSR or certificate) into an index entry. The store calls it for
 * files it did not write itself (written by another Puppet tool); the ca supplies it so
 * that stores never parse X.509.
 */
export type Summarize = (name: string, kind: "request" | "certificate", pem: string) => IndexEntry;

/** Console users and sessions (AccountStore) are part of the contract: servers sharing a store share them. */
export interface CaStore extends AccountStore, ArchivableStore, TrackingStore {
  /** Human-readable location, printed at startup ("/var/lib/fleetca/ca", "postgres://host/db"). */
  readonly location: string;

  /** True when the CA material exists (setup has run). */
  isInitialized(): Promise<boolean>;
  /** Fails with code "EEXIST" semantics (throws StoreConflictError) if a CA exists and overwrite is false. */
  /**
   * `caInventory` is the CA certificate's own inventory line (Puppet's inventory.txt starts with
   * it); when undefined the store derives it from the certificate, null writes none.
   */
  initialize(material: CaMaterial, opts: { firstSerial: bigint; overwrite?: boolean; caInventory?: InventoryEntry | null }): Promise<void>;
  loadCaMaterial(): Promise<CaMaterial>;

  /**
   * Runs fn while holding the CA's exclusive lock, across processes (two `fleetca ca sign`
   * at once) and within this process. Mutations that must not interleave (serial
   * allocation, CRL updates) happen inside.
   */
  withLock<T>(fn: () => Promise<T>): Promise<T>;

  /** Returns the next serial and advances the counter durably. Call inside withLock. */
  allocateSerial(): Promise<bigint>;
  /** The next serial that allocateSerial would return, without advancing. */
  peekSerial(): Promise<bigint>;

  /** Stores a pending request; `audit` (its "submitted" record) is appended in the same durable step. */
  putRequest(name: string, csrPem: string, entry: IndexEntry, audit?: AuditRecord): Promise<void>;
  getRequest(name: string): Promise<string | undefined>;
  /** Returns true if something was deleted. */
  deleteRequest(name: string): Promise<boolean>;

  /** Writes signed/<name>.pem (overwriting), appends to inventory.txt, updates the index. */
  putCertificate(name: string, certPem: string, inventory: InventoryEntry, entry: IndexEntry): Promise<void>;
  getCertificate(name: string): Promise<string | undefined>;
  deleteCertificate(name: string): Promise<boolean>;

  /** Every request and certificate, sorted by name, reflecting files written by other tools. */
  listIndex(summarize: Summarize): Promise<IndexEntry[]>;
  getIndexEntry(name: string, summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }>;

  readInventory(): Promise<InventoryEntry[]>;

  /**
   * One page of the index, filtered and sorted (the console and the JSON API), without
   * handing every entry to the caller: at 100,000 certificates a page of 50 must cost
   * milliseconds. The file and memory stores answer from orderings kept in memory
   * (store/index-query.ts), PostgreSQL with SQL over its indexes.
   */
  queryIndex(q: IndexQuery, summarize: Summarize): Promise<IndexPage>;
  /** How many requests, signed and revoked certificates the index holds (revoked: serial in `revoked`). */
  countIndex(revoked: ReadonlySet<bigint>, summarize: Summarize): Promise<Record<ListedState, number>>;

  getCrl(): Promise<string>;
  /** Atomically replaces the CRL (ca_crl.pem and, in the file store, the infra copy if it mirrors it). */
  putCrl(crlPem: string): Promise<void>;
  /**
   * Atomically replaces the CA certificate only (key, CRL, serials, inventory and issued
   * certificates untouched) and changes the material version: `fleetca ca extend` re-issues
   * it with the same key. Call inside withLock.
   */
  putCaCertificate(certPem: string): Promise<void>;

  // ---------------------------------------------------------------- revocation records

  /**
   * Records revocations durably, with their audit records, before the CRL that lists them is
   * published (call inside withLock). A crash between the two leaves records the CRL lacks:
   * the CA re-publishes them (records are the truth; the CRL is a view).
   */
  putRevocations(records: RevocationRecord[], audit: AuditRecord[]): Promise<void>;
  /**
   * Every revocation, in the order recorded. A store that has no records yet (a CA imported
   * from Puppet, or records deleted) rebuilds them from the CRL it holds, using the inventory
   * for names, and keeps them.
   */
  listRevocations(): Promise<RevocationRecord[]>;
  getRevocation(serial: bigint): Promise<RevocationRecord | undefined>;
  /** The current certificate (index entry) with this serial, if a name still holds it. */
  findBySerial(serial: bigint, summarize: Summarize): Promise<IndexEntry | undefined>;

  // ---------------------------------------------------------------- audit

  /** Appends audit records durably (file: audit.log as JSON lines; PostgreSQL: a table). */
  appendAudit(records: AuditRecord[]): Promise<void>;
  /** Audit records matching the query, oldest first. */
  readAudit(query: AuditQuery): Promise<AuditRecord[]>;

  /** A token that changes whenever the CA cert, key or CRL changes (mtime, row version). */
  materialVersion(): Promise<string>;

  close(): Promise<void>;
}

/** A signed certificate ready to be stored; its pending request is removed in the same step. */
export interface SignedCommit {
  name: string;
  certPem: string;
  inventory: InventoryEntry;
  entry: IndexEntry;
  /**
   * False when the certificate was signed straight from a submission (autosign) and no
   * request was ever stored: there is nothing to remove.
   */
  removeRequest?: boolean;
  /**
   * The request's bytes as read under the CA lock just before this commit (the precondition's
   * check of it), when the caller has them: a store that records what it removes (the file
   * store's journal hashes it) need not read the request again.
   */
  requestPem?: string;
  /** The "signed" audit record, appended in the same durable step as the certificate. */
  audit?: AuditRecord;
}

/**
 * Optional capability: the CA's durable steps for many certificates at once (one serial
 * write for a batch of serials; one inventory append and one index append for a batch of
 * certificates). The CA uses it when present and falls back to one call per certificate.
 * Both are called inside withLock.
 */
export interface BatchStore {
  /** Advances the counter by `count` durably; returns the first of `count` consecutive serials. */
  allocateSerials(count: number): Promise<bigint>;
  /** For each item: appends the inventory line, writes signed/<name>, removes the request. */
  commitSigned(items: SignedCommit[]): Promise<void>;
  /**
   * Optional: if the counter still stands at `end` (nobody allocated since), sets it back to
   * `from`, returning reserved serials [from, end) unused; false when it moved on.
   */
  returnSerials?(from: bigint, end: bigint): Promise<boolean>;
}

export function isBatchStore(store: CaStore): store is CaStore & BatchStore {
  const s = store as Partial<BatchStore>;
  return typeof s.allocateSerials === "function" && typeof s.commitSigned === "function";
}

/**
 * Optional capability: the CRL file written in two stages, so the disk works while the CA
 * key signs. At 100,000 entries ca_crl.pem is 5 MB, and writing it durably (~10 ms of
 * fsync here) cost more than the signature. The final content is the bytes before +
 * middle.bytes + after, with before exactly middle.offset bytes long; the file is replaced
 * atomically once all of it is durable, and not at all if `ends` rejects.
 */
export interface StagedCrlStore {
  putCrlStaged(middle: { offset: number; bytes: Uint8Array }, ends: Promise<{ before: Uint8Array; after: Uint8Array }>): Promise<void>;
}

export function isStagedCrlStore(store: CaStore): store is CaStore & StagedCrlStore {
  return typeof (store as Partial<StagedCrlStore>).putCrlStaged === "function";
}

export class StoreConflictError extends Error {
  constructor(message: string, readonly paths: string[] = []) {
    super(message);
    this.name = "StoreConflictError";
  }
}

/**
 * Optional capability: what an interrupted write leaves behind in the store (the file store's
 * temporary files). `ca check` reports them; recovery removes those no running process owns.
 */
export interface LeftoverStore {
  /** Leftovers of interrupted writes; `stale` ones belong to no running writer. */
  leftovers(): Promise<{ path: string; stale: boolean }[]>;
  /** Removes the stale leftovers; returns what was removed. */
  removeLeftovers(): Promise<string[]>;
}

export function isLeftoverStore(store: CaStore): store is CaStore & LeftoverStore {
  return typeof (store as Partial<LeftoverStore>).removeLeftovers === "function";
}

/**
 * Optional capability: when each pending request arrived (the console shows its age). The
 * file store answers with the request file's modification time, PostgreSQL with the row's.
 * Names without a request are left out.
 */
export interface RequestTimesStore {
  requestTimes(names: readonly string[]): Promise<Map<string, Date>>;
}

export function isRequestTimesStore(store: CaStore): store is CaStore & RequestTimesStore {
  return typeof (store as Partial<RequestTimesStore>).requestTimes === "function";
}

/**
 * Optional capability: the names with a pending request, without the whole index (the file
 * store reads requests/). Start-up's crash recovery needs only those; a store without it is
 * asked for its whole index.
 */
export interface RequestNamesStore {
  requestNames(): Promise<string[]>;
}

export function isRequestNamesStore(store: CaStore): store is CaStore & RequestNamesStore {
  return typeof (store as Partial<RequestNamesStore>).requestNames === "function";
}

/**
 * Optional capability: getIndexEntry for several names at once, from one look at the index.
 * A submission asks for its name and its trailing-dot twin (names.ts); the file store
 * brings its index up to date once for both instead of once each (a statx of both
 * directories, the inventory and the index journal, and the catch-up, per look).
 */
export interface IndexEntriesStore {
  getIndexEntries(names: readonly string[], summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }[]>;
}

export function isIndexEntriesStore(store: CaStore): store is CaStore & IndexEntriesStore {
  return typeof (store as Partial<IndexEntriesStore>).getIndexEntries === "function";
}

/** The entries of `names`, in order: in one look where the store can, else one getIndexEntry each. */
export function indexEntries(store: CaStore, names: readonly string[], summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }[]> {
  if (isIndexEntriesStore(store)) return store.getIndexEntries(names, summarize);
  return Promise.all(names.map((name) => store.getIndexEntry(name, summarize)));
}

/**
 * One kind of the index, in name order, read by position without an object per entry: the
 * file store's packed index, so `list --all` of 1,000,000 certificates builds no million
 * entries. Frozen when made: later changes to the store do not show in it.
 */
export interface IndexRows {
  readonly size: number;
  name(i: number): string;
  sha256(i: number): string;
  /** The serial as a double (exact below 2^53), NaN for none. */
  serialKey(i: number): number;
  serial(i: number): bigint | undefined;
  /** Whether the alt names are none or the lone "DNS:<name>" (then entry(i) need not be made to show them). */
  plainAltNames(i: number): boolean;
  /** The whole entry, made now. */
  entry(i: number): IndexEntry;
  /**
   * Copies the name's UTF-8 bytes, or the sha256's, into `into` at `at` and returns the
   * offset after them, or -1 when they do not fit: a printer of a million lines copies
   * bytes instead of making strings.
   */
  copyName(i: number, into: Uint8Array, at: number): number;
  copySha256(i: number, into: Uint8Array, at: number): number;
}

/** Optional: a store that lists its index as IndexRows (the file store). */
export interface IndexRowsStore {
  indexRows(kind: "request" | "certificate", summarize: Summarize): Promise<IndexRows>;
}

export function isIndexRowsStore(store: CaStore): store is CaStore & IndexRowsStore {
  return typeof (store as Partial<IndexRowsStore>).indexRows === "function";
}

// ---------------------------------------------------------------- archives (ca/lifecycle)

/**
 * One piece of a store's archive: a file of the CA directory (path relative to it, its mode),
 * a directory, or a batch of a table's rows (PostgreSQL: "table/<name>/<n>"). The lifecycle
 * code writes these into an archive without knowing what they are; only the store that made
 * them can put them back.
 */
export interface ArchiveItem {
  path: string;
  type: "file" | "dir";
  /** Unix permission bits. */
  mode: number;
  data: Uint8Array;
}

/** Part of the contract: a whole-store snapshot out, and a whole-store replacement in. */
export interface ArchivableStore {
  /** What kind of store wrote an archive ("file", "postgres", "memory"): it restores only into the same kind. */
  readonly archiveKind: string;
  /** Every piece of the store. Call inside withLock, so the snapshot is consistent. */
  exportArchive(): AsyncIterable<ArchiveItem>;
  /**
   * Replaces everything the store holds with `items`, all or nothing: if reading `items`
   * fails (a damaged archive), the store is left as it was. Call inside withLock.
   */
  importArchive(items: AsyncIterable<ArchiveItem>): Promise<void>;
}

// ---------------------------------------------------------------- re-enrollment tracking

/** A regeneration in progress: the old CA's nodes are tracked until they hold a new-CA certificate. */
export interface RegenerationState {
  mode: "compromise" | "rotate";
  startedAt: Date;
  oldCaFingerprint: string;
  newCaFingerprint: string;
  /** Serials from this one on were issued by the new CA: a node holding one has re-enrolled. */
  firstNewSerial: bigint;
  /** rotate: until when the old CA is still trusted; its certificate is kept for that. */
  overlapUntil?: Date;
  oldCaCertPem?: string;
  /**
   * rotate: the old CA's last CRL, signed at the regeneration (the old key is not kept) to stay
   * valid past `overlapUntil`; agents checking revocation for every CA of a chain need it.
   */
  oldCrlPem?: string;
}

export interface TrackedNode {
  name: string;
  lastSeenAt?: Date;
  lastSeenAddress?: string;
  /** Set when an operator took the node off the list (it will not come back). */
  dismissedAt?: Date;
}

/** Shared through the store, so every server on one PostgreSQL store sees the same list. */
export interface TrackingStore {
  /** Replaces any earlier tracking with a new regeneration and the names of the old CA's nodes. */
  startTracking(state: RegenerationState, names: string[]): Promise<void>;
  /** The regeneration being tracked and its nodes, or undefined when none is. */
  readTracking(): Promise<{ state: RegenerationState; nodes: TrackedNode[] } | undefined>;
  /** A tracked node presented an old-CA certificate; unknown names are ignored. */
  markSeen(name: string, at: Date, address: string): Promise<void>;
  /** Takes a node off the list; false when it is not tracked. */
  dismissNode(name: string, at: Date): Promise<boolean>;
  /** Ends tracking (the rotation's overlap is over, or a restore put the old CA back). */
  stopTracking(): Promise<void>;
  /**
   * Brings a rotation's overlap end forward to `at` (an operator ending it early); the nodes'
   * sightings and dismissals stay. False when no rotation with an overlap is tracked.
   */
  endOverlap(at: Date): Promise<boolean>;
  /**
   * Removes every pending request and certificate at once (a regeneration after a compromise:
   * the old CA's are void, and a node re-enrolling under the same name must not meet them).
   * The inventory, revocation records and audit trail stay. Call inside withLock.
   */
  clearIssued(): Promise<{ requests: number; certificates: number }>;
}

/**
 * The store cannot be reached (the database connection failed or was lost mid-request):
 * nothing was changed that the caller was not told about, and trying again later may succeed.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, readonly retryAfterSeconds = 5) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}
