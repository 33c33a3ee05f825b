/**
 * An in-memory CaStore for in-process tests: the server and CA run against it without a
 * directory, so inject tests stay fast and independent of the file store's progress.
 * It keeps the whole contract (test/store-contract.test.ts runs the same cases on it as on
 * the file and PostgreSQL stores), including the batch capability the real stores offer.
 */
import { auditMatches } from "../../src/ca/audit.js";
import { reasonFromCode } from "../../src/ca/revocation.js";
import type {
  ArchiveItem, AuditQuery, AuditRecord, BatchStore, RegenerationState, TrackedNode, CaMaterial, CaStore, IndexEntry, IndexPage, IndexQuery, InventoryEntry, ListedState, RevocationRecord, SignedCommit, Summarize,
} from "../../src/ca/store.js";
import { IndexCatalog } from "../../src/store/index-query.js";
import { StoreConflictError, type ConsoleSession, type ConsoleUser, type LoginCounter } from "../../src/ca/store.js";
import { listCrlEntries } from "../../src/pki/crl.js";
import { fromPem } from "../../src/pki/pem.js";

export class MemoryStore implements CaStore, BatchStore {
  readonly location = "memory:";
  private material?: CaMaterial;
  private serial = 1n;
  private version = 0;
  private readonly requests = new Map<string, { pem: string; entry: IndexEntry }>();
  private readonly certs = new Map<string, { pem: string; entry: IndexEntry }>();
  private inventory: InventoryEntry[] = [];
  /** In the order recorded; a Map keeps insertion order. */
  private revocations = new Map<bigint, RevocationRecord>();
  private readonly audit: AuditRecord[] = [];
  private lock: Promise<unknown> = Promise.resolve();

  async isInitialized(): Promise<boolean> {
    return this.material !== undefined;
  }

  /** As the real stores: the inventory starts over, and a replaced CA's revocation records go with it. */
  async initialize(material: CaMaterial, opts: { firstSerial: bigint; overwrite?: boolean; caInventory?: InventoryEntry | null }): Promise<void> {
    if (this.material && !opts.overwrite) throw new StoreConflictError("a CA exists");
    this.material = { ...material };
    this.inventory = opts.caInventory ? [opts.caInventory] : [];
    this.revocations = new Map();
    this.serial = opts.firstSerial;
    this.version++;
  }

  async loadCaMaterial(): Promise<CaMaterial> {
    return { ...this.ca() };
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  async allocateSerial(): Promise<bigint> {
    return this.serial++;
  }

  async allocateSerials(count: number): Promise<bigint> {
    if (!Number.isSafeInteger(count) || count < 1) throw new Error(`allocateSerials needs a positive whole count (got ${count})`);
    const first = this.serial;
    this.serial += BigInt(count);
    return first;
  }

  async returnSerials(from: bigint, end: bigint): Promise<boolean> {
    if (this.serial !== end) return false;
    this.serial = from;
    return true;
  }

  async peekSerial(): Promise<bigint> {
    return this.serial;
  }

  private readonly requestTimesByName = new Map<string, Date>();

  async requestTimes(names: readonly string[]): Promise<Map<string, Date>> {
    return new Map(names.filter((n) => this.requests.has(n) && this.requestTimesByName.has(n)).map((n) => [n, this.requestTimesByName.get(n)!]));
  }

  async putRequest(name: string, csrPem: string, entry: IndexEntry, audit?: AuditRecord): Promise<void> {
    this.requestTimesByName.set(name, new Date());
    this.requests.set(name, { pem: csrPem, entry });
    if (audit) this.audit.push(audit);
  }

  async getRequest(name: string): Promise<string | undefined> {
    return this.requests.get(name)?.pem;
  }

  async deleteRequest(name: string): Promise<boolean> {
    return this.requests.delete(name);
  }

  async putCertificate(name: string, certPem: string, inventory: InventoryEntry, entry: IndexEntry): Promise<void> {
    this.certs.set(name, { pem: certPem, entry });
    this.inventory.push(inventory);
  }

  async commitSigned(items: SignedCommit[]): Promise<void> {
    for (const it of items) {
      this.certs.set(it.name, { pem: it.certPem, entry: it.entry });
      this.inventory.push(it.inventory);
      if (it.removeRequest !== false) this.requests.delete(it.name);
      if (it.audit) this.audit.push(it.audit);
    }
  }

  async getCertificate(name: string): Promise<string | undefined> {
    return this.certs.get(name)?.pem;
  }

  async deleteCertificate(name: string): Promise<boolean> {
    return this.certs.delete(name);
  }

  /** By name (code units), a request before a certificate of the same name, as the real stores list. */
  async listIndex(_summarize: Summarize): Promise<IndexEntry[]> {
    const all = [...[...this.requests.values()].map((r) => r.entry), ...[...this.certs.values()].map((c) => c.entry)];
    return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.state === b.state ? 0 : a.state === "requested" ? -1 : 1));
  }

  /** From a catalog of the whole index built for each query: the memory store holds a few entries. */
  async queryIndex(q: IndexQuery, summarize: Summarize): Promise<IndexPage> {
    return new IndexCatalog(await this.listIndex(summarize)).query(q);
  }

  async countIndex(revoked: ReadonlySet<bigint>, summarize: Summarize): Promise<Record<ListedState, number>> {
    return new IndexCatalog(await this.listIndex(summarize)).counts(revoked);
  }

  async getIndexEntry(name: string, _summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }> {
    const request = this.requests.get(name)?.entry;
    const certificate = this.certs.get(name)?.entry;
    return { ...(request ? { request } : {}), ...(certificate ? { certificate } : {}) };
  }

  async readInventory(): Promise<InventoryEntry[]> {
    return [...this.inventory];
  }

  async getCrl(): Promise<string> {
    return this.ca().crlPem;
  }

  async putCaCertificate(certPem: string): Promise<void> {
    this.material = { ...this.ca(), certPem };
    this.version++;
  }

  async putCrl(crlPem: string): Promise<void> {
    this.material = { ...this.ca(), crlPem };
    this.version++;
  }

  /**
   * A serial already recorded keeps its record, unless that one was only rebuilt from the CRL
   * (the CA publishes beside recording, so the CRL may list a serial before its record lands).
   */
  async putRevocations(records: RevocationRecord[], audit: AuditRecord[]): Promise<void> {
    if (records.length > 0 && this.revocations.size === 0) this.takeIn(new Set(records.map((r) => r.serial)));
    for (const r of records) {
      const old = this.revocations.get(r.serial);
      if (!old || (old.by === "crl" && r.by !== "crl")) this.revocations.set(r.serial, r);
    }
    this.audit.push(...audit);
  }

  /** Serials the CRL lists without a record are taken in first, by "crl", as the real stores do. */
  async listRevocations(): Promise<RevocationRecord[]> {
    this.takeIn(new Set(this.revocations.keys()));
    return [...this.revocations.values()];
  }

  async getRevocation(serial: bigint): Promise<RevocationRecord | undefined> {
    if (this.revocations.size === 0) this.takeIn(new Set());
    return this.revocations.get(serial);
  }

  async findBySerial(serial: bigint, _summarize: Summarize): Promise<IndexEntry | undefined> {
    for (const { entry } of this.certs.values()) if (entry.serial === serial) return entry;
    return undefined;
  }

  async appendAudit(records: AuditRecord[]): Promise<void> {
    this.audit.push(...records);
  }

  async readAudit(query: AuditQuery): Promise<AuditRecord[]> {
    const hits = this.audit.filter((r) => auditMatches(r, query));
    if (query.limit === undefined) return hits;
    const n = Math.max(0, Math.floor(query.limit));
    return n === 0 ? [] : hits.slice(-n);
  }

  async materialVersion(): Promise<string> {
    return String(this.version);
  }

  // ---------------------------------------------------------------- console users and sessions

  private readonly users = new Map<string, ConsoleUser>();
  private readonly loginCounters = new Map<string, LoginCounter>();

  async getLoginCounters(keys: readonly string[]): Promise<Map<string, LoginCounter>> {
    return new Map(keys.flatMap((k) => (this.loginCounters.has(k) ? [[k, this.loginCounters.get(k)!] as const] : [])));
  }

  async updateLoginCounters(keys: readonly string[], change: (current: Map<string, LoginCounter>) => Map<string, LoginCounter | undefined>): Promise<void> {
    // Read and write with no await between: this is the store's atomic step.
    const next = change(new Map(keys.flatMap((k) => (this.loginCounters.has(k) ? [[k, this.loginCounters.get(k)!] as const] : []))));
    for (const k of keys) {
      const c = next.get(k);
      if (c) this.loginCounters.set(k, c);
      else this.loginCounters.delete(k);
    }
  }

  async pruneLoginCounters(failuresBefore: Date, lockedBefore: Date): Promise<number> {
    let n = 0;
    for (const [k, c] of this.loginCounters) {
      if (c.failures.every((t) => t < failuresBefore) && !(c.lockedUntil && c.lockedUntil >= lockedBefore)) n += this.loginCounters.delete(k) ? 1 : 0;
    }
    return n;
  }

  private readonly sessions = new Map<string, ConsoleSession>();

  async createUser(user: ConsoleUser): Promise<void> {
    if (this.users.has(user.name)) throw new StoreConflictError(`console user ${user.name} exists`);
    this.users.set(user.name, { ...user });
  }

  async updateUser(user: ConsoleUser): Promise<boolean> {
    const old = this.users.get(user.name);
    if (!old) return false;
    this.users.set(user.name, { ...user, createdAt: old.createdAt });
    return true;
  }

  async getUser(name: string): Promise<ConsoleUser | undefined> {
    const u = this.users.get(name);
    return u && { ...u };
  }

  async listUsers(): Promise<ConsoleUser[]> {
    return [...this.users.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((u) => ({ ...u }));
  }

  async deleteUser(name: string): Promise<boolean> {
    if (!this.users.delete(name)) return false;
    await this.deleteSessionsOf(name);
    return true;
  }

  async putSession(session: ConsoleSession): Promise<void> {
    this.sessions.set(session.id, { ...session });
  }

  async getSession(id: string): Promise<ConsoleSession | undefined> {
    const s = this.sessions.get(id);
    return s && { ...s };
  }

  async touchSession(id: string, lastSeen: Date): Promise<boolean> {
    const s = this.sessions.get(id);
    if (!s) return false;
    if (lastSeen > s.lastSeen) this.sessions.set(id, { ...s, lastSeen });
    return true;
  }

  async deleteSession(id: string): Promise<boolean> {
    return this.sessions.delete(id);
  }

  async deleteSessionsOf(user: string): Promise<number> {
    return this.dropSessions((s) => s.user === user);
  }

  async pruneSessions(idleBefore: Date, createdBefore: Date): Promise<number> {
    return this.dropSessions((s) => s.lastSeen < idleBefore || s.createdAt < createdBefore);
  }

  private dropSessions(drop: (s: ConsoleSession) => boolean): number {
    let n = 0;
    for (const [id, s] of this.sessions) if (drop(s) && this.sessions.delete(id)) n++;
    return n;
  }

  // ---------------------------------------------------------------- archives and tracking

  readonly archiveKind = "memory";
  private tracking?: { state: RegenerationState; nodes: Map<string, TrackedNode> };

  /** The whole state as one item: JSON with bigints, Dates and Maps tagged (encodeState), the same bytes for the same state. */
  async *exportArchive(): AsyncIterable<ArchiveItem> {
    const state = {
      material: this.material, serial: this.serial, requests: this.requests, certs: this.certs, inventory: this.inventory,
      revocations: this.revocations, audit: this.audit, users: this.users, sessions: this.sessions, tracking: this.tracking,
    };
    yield { path: "memory-store", type: "file", mode: 0o600, data: new TextEncoder().encode(encodeState(state)) };
  }

  /** All or nothing: the items are read whole before anything is replaced. */
  async importArchive(items: AsyncIterable<ArchiveItem>): Promise<void> {
    let data: Uint8Array | undefined;
    for await (const item of items) if (item.path === "memory-store") data = item.data;
    if (!data) throw new Error("the archive holds no memory-store item");
    const s = decodeState(new TextDecoder().decode(data)) as {
      material?: CaMaterial; serial: bigint; requests: MemoryStore["requests"]; certs: MemoryStore["certs"]; inventory: InventoryEntry[];
      revocations: Map<bigint, RevocationRecord>; audit: AuditRecord[]; users: Map<string, ConsoleUser>; sessions: Map<string, ConsoleSession>;
      tracking?: MemoryStore["tracking"];
    };
    this.material = s.material;
    this.serial = s.serial;
    for (const [mine, theirs] of [[this.requests, s.requests], [this.certs, s.certs], [this.users, s.users], [this.sessions, s.sessions]] as [Map<unknown, unknown>, Map<unknown, unknown>][]) {
      mine.clear();
      for (const [k, v] of theirs) mine.set(k, v);
    }
    this.inventory = s.inventory;
    this.revocations = s.revocations;
    this.audit.length = 0;
    this.audit.push(...s.audit);
    this.tracking = s.tracking;
    this.version++;
  }

  async startTracking(state: RegenerationState, names: string[]): Promise<void> {
    this.tracking = { state: { ...state }, nodes: new Map(names.map((name) => [name, { name }])) };
  }

  async readTracking(): Promise<{ state: RegenerationState; nodes: TrackedNode[] } | undefined> {
    if (!this.tracking) return undefined;
    return { state: { ...this.tracking.state }, nodes: [...this.tracking.nodes.values()].map((n) => ({ ...n })) };
  }

  async markSeen(name: string, at: Date, address: string): Promise<void> {
    const n = this.tracking?.nodes.get(name);
    if (n) Object.assign(n, { lastSeenAt: at, lastSeenAddress: address });
  }

  async dismissNode(name: string, at: Date): Promise<boolean> {
    const n = this.tracking?.nodes.get(name);
    if (!n) return false;
    n.dismissedAt = at;
    return true;
  }

  async stopTracking(): Promise<void> {
    this.tracking = undefined;
  }

  async endOverlap(at: Date): Promise<boolean> {
    const state = this.tracking?.state;
    if (!state?.overlapUntil) return false;
    if (at < state.overlapUntil) state.overlapUntil = at;
    return true;
  }

  async clearIssued(): Promise<{ requests: number; certificates: number }> {
    const counts = { requests: this.requests.size, certificates: this.certs.size };
    this.requests.clear();
    this.certs.clear();
    return counts;
  }

  async close(): Promise<void> {}

  private ca(): CaMaterial {
    if (!this.material) throw new Error("no CA");
    return this.material;
  }

  /** Records, by "crl", for the CRL's entries but `exclude`, named from the inventory ("/CN=name"). */
  private takeIn(exclude: ReadonlySet<bigint>): void {
    if (!this.material) return;
    for (const e of listCrlEntries(fromPem(this.material.crlPem, ["X509 CRL"], "CRL"))) {
      if (exclude.has(e.serial) || this.revocations.has(e.serial)) continue;
      const line = this.inventory.filter((i) => i.serial === e.serial).at(-1);
      const cert = [...this.certs.values()].find((c) => c.entry.serial === e.serial);
      const name = (line && /(?:^|\/)CN=([^/]*)$/.exec(line.subject)?.[1]) ?? cert?.entry.name ?? "";
      this.revocations.set(e.serial, { serial: e.serial, name, revokedAt: e.date, reason: reasonFromCode(e.reasonCode), by: "crl" });
    }
  }
}

/** JSON that keeps bigints, Dates and Maps (tagged objects), for the memory store's archive. */
function encodeState(v: unknown): string {
  return JSON.stringify(v, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (raw instanceof Date) return { $date: raw.toISOString() };
    if (typeof raw === "bigint") return { $bigint: raw.toString() };
    if (raw instanceof Map) return { $map: [...raw.entries()] };
    return value;
  });
}

function decodeState(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const o = value as Record<string, unknown>;
      if (typeof o.$date === "string") return new Date(o.$date);
      if (typeof o.$bigint === "string") return BigInt(o.$bigint);
      if (Array.isArray(o.$map)) return new Map(o.$map as [unknown, unknown][]);
    }
    return value;
  });
}
