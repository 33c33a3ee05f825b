/**
 * CaStore on PostgreSQL, so that several CA servers share one CA (DESIGN.md journey 4): the
 * same ca code over another store. Semantics mirror store/file: initialize refuses to
 * replace a CA unless asked, the inventory is append-only, listing reflects rows written by
 * other tools, and the material version changes whenever the CA cert, key or CRL does.
 *
 * It also offers the CA's optional batch capability (allocateSerials, commitSigned: see
 * batch.ts), declared structurally. Revocation records and the audit trail are tables
 * (records.ts); an audit record that goes with a change is written in the change's statement
 * or transaction.
 *
 * Every name and PEM reaches SQL as a query parameter; the only identifiers interpolated are
 * the constant schema name and fixed fragments.
 */
import { hostname } from "node:os";
import pg from "pg";
import {
  StoreUnavailableError,
  type ArchiveItem, type AuditQuery, type AuditRecord, type CaMaterial, type RegenerationState, type TrackedNode, type CaStore, type IndexEntry, type InventoryEntry,
  type RevocationRecord, type SignedCommit, type Summarize, type IndexPage, type IndexQuery, type ListedState,
} from "../../ca/store.js";
import type { ConsoleSession, ConsoleUser, LoginCounter } from "../../ca/store.js";
import { PASSPHRASE_ENV, PASSPHRASE_FILE_ENV, passphraseFrom } from "../passphrase.js";
import { PostgresAccounts } from "./accounts.js";
import { exportRows, importRows } from "./archive.js";
import { allocateSerials, commitSigned } from "./batch.js";
import * as tracking from "./tracking.js";
import { copyRows, type CopyCounts } from "./copy.js";
import { hostPool, isQueryTimeout, isUnreachable, NotPrimaryError } from "./hosts.js";
import { AdvisoryLock } from "./lock.js";
import { assertSubject, initializeIn, inventoryParams, type InitializeOptions } from "./material.js";
import { migrate, SCHEMA } from "./migrations.js";
import * as records from "./records.js";
import { countIndexSql, queryIndexSql } from "./index-query.js";
import { certParams, entryParams, indexQuery, inventoryOf, toEntries, type IndexRow, type InventoryRow } from "./rows.js";
import { KeyDeriver, seal, unseal, WrongPassphraseError, type SealedKey } from "./sealed-key.js";
import { inTransaction } from "./tx.js";
import { redactUrl, scrub, secretsOf } from "./url.js";
import { MaterialWatch } from "./watch.js";

export interface PostgresStoreOptions {
  /** Connections per store (default 10); one of them is held by withLock while it runs. */
  poolSize?: number;
  /** How long withLock waits for another server's lock (default 30 s, as the file store). */
  lockTimeoutMs?: number;
  /**
   * How long a statement may go unanswered before it fails as "unavailable" (default: the lock
   * timeout + 30 s). The URL's own `query_timeout` (milliseconds, node-postgres's name) wins.
   */
  queryTimeoutMs?: number;
  /** Errors of idle connections (the server restarted, a network cut); the pool reconnects on its own. */
  onError?: (err: Error) => void;
  /**
   * The CA key's passphrase; undefined: from FLEETCA_CA_PASSPHRASE or FLEETCA_CA_PASSPHRASE_FILE;
   * null: none. Without it the store still serves everything but the key.
   */
  passphrase?: string | null;
  /** What the operator must be told: a clear key sealed now, or left in clear for want of a passphrase. */
  onNotice?: (message: string) => void;
  /** LISTEN for material changes on a connection of its own (servers; a short CLI command does not need it). */
  watch?: boolean;
  /** Told when the LISTEN connection is lost (the store reads versions meanwhile) and when it is back. */
  onWatch?: (live: boolean, why?: string) => void;
}

const NO_PASSPHRASE = `set ${PASSPHRASE_ENV}, or ${PASSPHRASE_FILE_ENV} to a file holding it`;
const VERSION_SQL = `SELECT epoch || ':' || version AS v FROM fleetca.ca WHERE id = 1`;

const S = SCHEMA;

export class PostgresStore implements CaStore {
  private readonly lock: AdvisoryLock;
  private readonly accounts: PostgresAccounts;
  private readonly deriver = new KeyDeriver();
  /** The key last opened, by its public key: a server whose passphrase was rotated under it keeps signing until restarted. */
  private opened?: { publicKeyPem: string; keyPem: string };
  private watch?: MaterialWatch;

  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
    lockTimeoutMs: number,
    private readonly passphrase: string | undefined,
    private readonly notice: (message: string) => void,
  ) {
    this.lock = new AdvisoryLock(pool, location, lockTimeoutMs);
    this.accounts = new PostgresAccounts(pool);
  }

  /** Connects, creates or upgrades the schema, and returns the store. The URL's password is never shown. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const location = redactUrl(url);
    const lockTimeoutMs = opts.lockTimeoutMs ?? 30_000;
    const queryTimeoutMs = queryTimeoutOf(url) ?? opts.queryTimeoutMs ?? lockTimeoutMs + 30_000;
    const passphrase = opts.passphrase === undefined ? passphraseFrom(process.env) : (opts.passphrase ?? undefined);
    const pool = hostPool(url, {
      max: Math.max(2, opts.poolSize ?? 10),
      // Shown in pg_stat_activity, so a DBA can tell the CA servers apart (and who holds the lock).
      application_name: `fleetca ${hostname()} pid ${process.pid}`.slice(0, 63),
      lock_timeout: lockTimeoutMs,
      connectionTimeoutMillis: 15_000,
      // A database that stops answering without closing the connection (a host lost, a
      // network cut, a frozen server) must not hold a request, or the CA lock, forever: the
      // statement fails after this and the client gets a 503. Longer than any lock wait.
      query_timeout: queryTimeoutMs,
      // Idle connections to a host that vanished without a reset are found dead.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      // Idle connections must not keep a `fleetca ca …` command alive after it is done
      // (the CLI does not close stores); a server stays up through its listener anyway.
      allowExitOnIdle: true,
    }, redactUrl, {
      onAsyncCommit: () =>
        opts.onNotice?.(
          `The database ${location} has synchronous_commit = off, under which a crash of PostgreSQL can undo commits it already acknowledged. ` +
            `fleetca turns it on for its own sessions, so that a certificate is handed out only once its commit is durable.`,
        ),
    });
    // Without a listener, an idle connection's error would crash the process.
    pool.on("error", (err) => opts.onError?.(err));
    try {
      await migrate(pool);
    } catch (e) {
      await pool.end().catch(() => undefined);
      let why = scrub((e as Error).message, secretsOf(url));
      // pg's wording when the server wants a password and none was given is cryptic.
      if (/password must be a string|no password/i.test(why)) why = "the server asks for a password and none was given: set PGPASSWORD or ~/.pgpass, or put it in the URL";
      throw Object.assign(new Error(`Cannot open the PostgreSQL store ${location}: ${why}`), { code: (e as { code?: string }).code });
    }
    const store = new PostgresStore(pool, location, lockTimeoutMs, passphrase, opts.onNotice ?? (() => undefined));
    try {
      await store.sealClearKey();
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw e;
    }
    if (opts.watch) store.watch = new MaterialWatch(pool, VERSION_SQL, opts.onWatch ?? (() => undefined));
    return unavailableWhenUnreachable(store, location, secretsOf(url), queryTimeoutMs);
  }

  /**
   * A key left in clear by a fleetca from before migration 3 is sealed with the passphrase at
   * the first open that has one, and the table rewritten so the clear row version does not
   * linger in its file. Without a passphrase it stays as it is, the operator is told, and
   * signing is refused (loadCaMaterial) until a passphrase is given.
   */
  private async sealClearKey(): Promise<void> {
    const { rows } = await this.pool.query<{ clear: boolean }>(`SELECT key_pem IS NOT NULL AS clear FROM ${S}.ca WHERE id = 1`);
    if (!rows[0]?.clear) return;
    if (!this.passphrase) {
      this.notice(`The CA key in ${this.location} is stored in clear (written by an older fleetca). fleetca will not sign with it until it is encrypted: ${NO_PASSPHRASE}, and the next start encrypts it.`);
      return;
    }
    const sealed = await inTransaction(this.pool, async (c) => {
      const { rows: ca } = await c.query<{ key_pem: string | null; public_key_pem: string }>(`SELECT key_pem, public_key_pem FROM ${S}.ca WHERE id = 1 FOR UPDATE`);
      const row = ca[0];
      // Another server sealed it between the two reads.
      if (!row?.key_pem) return false;
      const box = await seal(row.key_pem, this.passphrase!, row.public_key_pem, this.deriver);
      await c.query(`UPDATE ${S}.ca SET key_sealed = $1::jsonb, key_pem = NULL, updated_at = now() WHERE id = 1`, [JSON.stringify(box)]);
      return true;
    });
    if (!sealed) return;
    await this.pool.query(`VACUUM FULL ${S}.ca`).catch(() => undefined);
    this.notice(`The CA key in ${this.location} was stored in clear; it is now encrypted with the passphrase. Backups and WAL archives made before now still hold it in clear: protect or destroy them.`);
  }

  /** The key PEM or the reason it cannot be had, for loadCaMaterial. */
  private async openKey(row: { key_pem: string | null; key_sealed: SealedKey | null; public_key_pem: string }): Promise<{ keyPem: string } | { keyProblem: string }> {
    if (row.key_pem !== null) {
      return { keyProblem: `the CA key in ${this.location} is stored in clear and fleetca signs only with an encrypted key: ${NO_PASSPHRASE}; the next start encrypts it` };
    }
    if (!row.key_sealed) return { keyProblem: `the CA key in ${this.location} is missing` };
    if (!this.passphrase) return { keyProblem: `the CA key in ${this.location} is encrypted and no passphrase was given: ${NO_PASSPHRASE}` };
    try {
      const keyPem = await unseal(row.key_sealed, this.passphrase, row.public_key_pem, this.deriver);
      this.opened = { publicKeyPem: row.public_key_pem, keyPem };
      return { keyPem };
    } catch (e) {
      if (!(e instanceof WrongPassphraseError)) throw e;
      if (this.opened?.publicKeyPem === row.public_key_pem) return { keyPem: this.opened.keyPem };
      return {
        keyProblem: `the passphrase given does not open the CA key in ${this.location} (a wrong passphrase, or it was changed with \`fleetca ca passphrase --rotate\`): give the current one in ${PASSPHRASE_ENV} or ${PASSPHRASE_FILE_ENV}`,
      };
    }
  }

  /**
   * Seals the key again under a new passphrase (new salt). The material's version does not
   * change, so running servers keep the key they opened; give them the new passphrase before
   * they next start.
   */
  async rotatePassphrase(next: string): Promise<void> {
    if (!this.passphrase) throw Object.assign(new Error(`No current passphrase: ${NO_PASSPHRASE} to the one the key is encrypted with.`), { code: "FLEETCA_PASSPHRASE" });
    if (next === "") throw Object.assign(new Error("The new passphrase is empty."), { code: "FLEETCA_PASSPHRASE" });
    await inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ key_pem: string | null; key_sealed: SealedKey | null; public_key_pem: string }>(
        `SELECT key_pem, key_sealed, public_key_pem FROM ${S}.ca WHERE id = 1 FOR UPDATE`,
      );
      const row = rows[0];
      if (!row) throw this.noCa();
      let keyPem: string;
      if (row.key_pem !== null) keyPem = row.key_pem;
      else {
        try {
          keyPem = await unseal(row.key_sealed!, this.passphrase!, row.public_key_pem, this.deriver);
        } catch (e) {
          if (e instanceof WrongPassphraseError) throw Object.assign(new Error(`The current passphrase does not open the CA key in ${this.location}; nothing was changed.`), { code: "FLEETCA_PASSPHRASE" });
          throw e;
        }
      }
      const box = await seal(keyPem, next, row.public_key_pem, this.deriver);
      await c.query(`UPDATE ${S}.ca SET key_sealed = $1::jsonb, key_pem = NULL, updated_at = now() WHERE id = 1`, [JSON.stringify(box)]);
    });
  }

  private sealFor(material: CaMaterial): Promise<SealedKey> {
    if (!this.passphrase) {
      throw Object.assign(new Error(`The CA key is kept in PostgreSQL only encrypted, and no passphrase was given: ${NO_PASSPHRASE} (every CA server needs the same one).`), { code: "FLEETCA_PASSPHRASE" });
    }
    return seal(material.keyPem, this.passphrase, material.publicKeyPem, this.deriver);
  }

  async isInitialized(): Promise<boolean> {
    const { rowCount } = await this.pool.query(`SELECT 1 FROM ${S}.ca WHERE id = 1`);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Stores the CA's cert, key, CRL and first serial in one transaction. Refuses
   * (StoreConflictError) when a CA exists, unless `overwrite`; then the material, serial and
   * inventory are replaced, while requests and certificates are left to the caller, as in
   * the file store. The inventory starts with the CA's own line: `caInventory` when given
   * (the file store's extension of the signature), else read from the CA certificate.
   * Two servers initializing an empty database at once: one wins, the other gets the conflict.
   */
  async initialize(material: CaMaterial, opts: InitializeOptions): Promise<void> {
    const sealed = await this.sealFor(material);
    await inTransaction(this.pool, (c) => initializeIn(c, this.location, material, opts, sealed));
  }

  /**
   * Moves a whole CA from another store (say the file store of an existing Puppet CA) into
   * this empty one, in one transaction, holding the source's lock: material, requests,
   * certificates, the full inventory, revocation records and the audit trail. Serials continue
   * after the highest one seen.
   */
  async importFrom(source: CaStore, summarize: Summarize): Promise<CopyCounts & { nextSerial: bigint }> {
    return source.withLock(async () => {
      const material = await source.loadCaMaterial();
      if (material.keyProblem !== undefined) throw new Error(`Cannot move the CA: ${material.keyProblem}`);
      const sealed = await this.sealFor(material);
      return inTransaction(this.pool, async (c) => {
        // No CA line of our own: the source's inventory, copied whole, has it.
        await initializeIn(c, this.location, material, { firstSerial: await source.peekSerial(), caInventory: null }, sealed);
        const counts = await copyRows(c, source, summarize);
        const { rows } = await c.query<{ next: string }>(
          `UPDATE ${S}.serial_counter SET next_serial = greatest(next_serial,
             (SELECT coalesce(max(serial) + 1, 0) FROM ${S}.inventory), (SELECT coalesce(max(serial) + 1, 0) FROM ${S}.certificates),
             (SELECT coalesce(max(serial) + 1, 0) FROM ${S}.revocations))
           WHERE id = 1 RETURNING next_serial::text AS next`,
        );
        return { ...counts, nextSerial: BigInt(rows[0]!.next) };
      });
    });
  }

  async loadCaMaterial(): Promise<CaMaterial> {
    // One statement, so the CRL is the one that goes with the cert and key read.
    const { rows } = await this.pool.query<{ cert_pem: string; key_pem: string | null; key_sealed: SealedKey | null; public_key_pem: string; crl_pem: string }>(
      `SELECT ca.cert_pem, ca.key_pem, ca.key_sealed, ca.public_key_pem, crl.pem AS crl_pem FROM ${S}.ca JOIN ${S}.crl ON crl.id = ca.id WHERE ca.id = 1`,
    );
    const r = rows[0];
    if (!r) throw this.noCa();
    const key = await this.openKey(r);
    const base = { certPem: r.cert_pem, publicKeyPem: r.public_key_pem, crlPem: r.crl_pem };
    return "keyPem" in key ? { ...base, keyPem: key.keyPem } : { ...base, keyPem: "", keyProblem: key.keyProblem };
  }

  /**
   * Runs fn holding the CA's advisory lock (other servers) and this store's queue (this
   * process). Not re-entrant: calling withLock from inside fn throws rather than deadlocking.
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  /**
   * One UPDATE … RETURNING: atomic on its own (the row lock serializes servers), so unlike
   * the file store it would be safe even outside withLock; callers still hold the lock.
   */
  async allocateSerial(): Promise<bigint> {
    return this.allocateSerials(1);
  }

  /** BatchStore: the first of `count` consecutive serials, in one UPDATE. */
  async allocateSerials(count: number): Promise<bigint> {
    const first = await allocateSerials(this.pool, count);
    if (first === undefined) throw this.noCa();
    return first;
  }

  /** BatchStore.returnSerials: a compare-and-set on the counter. */
  async returnSerials(from: bigint, end: bigint): Promise<boolean> {
    const r = await this.pool.query(`UPDATE ${S}.serial_counter SET next_serial = $1 WHERE id = 1 AND next_serial = $2`, [from.toString(), end.toString()]);
    return r.rowCount === 1;
  }

  /** BatchStore: putCertificate + deleteRequest (+ their audit records) for many certificates, in one statement. */
  async commitSigned(items: SignedCommit[]): Promise<void> {
    for (const it of items) {
      assertName(it.name);
      assertSubject(it.inventory.subject);
    }
    await commitSigned(this.pool, items);
  }

  async peekSerial(): Promise<bigint> {
    const { rows } = await this.pool.query<{ serial: string }>(`SELECT next_serial::text AS serial FROM ${S}.serial_counter WHERE id = 1`);
    if (!rows[0]) throw this.noCa();
    return BigInt(rows[0].serial);
  }

  /** Upserts the request; its audit record, when given, is inserted by the same statement. */
  async putRequest(name: string, csrPem: string, entry: IndexEntry, audit?: AuditRecord): Promise<void> {
    assertName(name);
    const upsert = `INSERT INTO ${S}.requests (name, pem, sha256, alt_names, auth_extensions) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (name) DO UPDATE SET pem = EXCLUDED.pem, sha256 = EXCLUDED.sha256, alt_names = EXCLUDED.alt_names,
         auth_extensions = EXCLUDED.auth_extensions, updated_at = now()`;
    const params = [name, csrPem, ...entryParams(entry)];
    if (!audit) await this.pool.query(upsert, params);
    else await this.pool.query(`WITH request AS (${upsert}) ${records.insertAuditSql(6)}`, [...params, records.auditJson([audit])]);
  }

  async getRequest(name: string): Promise<string | undefined> {
    return this.getPem("requests", name);
  }

  async deleteRequest(name: string): Promise<boolean> {
    return this.deletePem("requests", name);
  }

  /**
   * Upserts the certificate and appends its inventory row in one statement: atomic like a
   * transaction, but one round trip and one commit, since it runs under the CA lock.
   */
  async putCertificate(name: string, certPem: string, inventory: InventoryEntry, entry: IndexEntry): Promise<void> {
    assertName(name);
    assertSubject(inventory.subject);
    await this.pool.query(
      `WITH cert AS (
         INSERT INTO ${S}.certificates (name, pem, sha256, alt_names, auth_extensions, serial, not_before, not_after)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::numeric, $7, $8)
         ON CONFLICT (name) DO UPDATE SET pem = EXCLUDED.pem, sha256 = EXCLUDED.sha256, alt_names = EXCLUDED.alt_names,
           auth_extensions = EXCLUDED.auth_extensions, serial = EXCLUDED.serial, not_before = EXCLUDED.not_before,
           not_after = EXCLUDED.not_after, updated_at = now()
         RETURNING name)
       INSERT INTO ${S}.inventory (serial, not_before, not_after, subject) SELECT $9::numeric, $10, $11, $12 FROM cert`,
      [name, certPem, ...entryParams(entry), ...certParams(entry, inventory), ...inventoryParams(inventory)],
    );
  }

  async getCertificate(name: string): Promise<string | undefined> {
    return this.getPem("certificates", name);
  }

  async deleteCertificate(name: string): Promise<boolean> {
    return this.deletePem("certificates", name);
  }

  async listIndex(summarize: Summarize): Promise<IndexEntry[]> {
    const { rows } = await this.pool.query<IndexRow>(indexQuery(""));
    return toEntries(this.pool, rows, summarize);
  }

  queryIndex(q: IndexQuery, summarize: Summarize): Promise<IndexPage> {
    return queryIndexSql(this.pool, q, summarize);
  }

  countIndex(revoked: ReadonlySet<bigint>, _summarize: Summarize): Promise<Record<ListedState, number>> {
    return countIndexSql(this.pool, revoked);
  }

  async getIndexEntry(name: string, summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }> {
    assertName(name);
    const { rows } = await this.pool.query<IndexRow>(indexQuery("WHERE name = $1"), [name]);
    const out: { request?: IndexEntry; certificate?: IndexEntry } = {};
    for (const e of await toEntries(this.pool, rows, summarize)) {
      if (e.state === "requested") out.request = e;
      else out.certificate = e;
    }
    return out;
  }

  async readInventory(): Promise<InventoryEntry[]> {
    const { rows } = await this.pool.query<InventoryRow>(
      `SELECT serial::text AS serial, not_before, not_after, subject FROM ${S}.inventory ORDER BY id`,
    );
    return rows.map(inventoryOf);
  }

  async getCrl(): Promise<string> {
    const { rows } = await this.pool.query<{ pem: string }>(`SELECT pem FROM ${S}.crl WHERE id = 1`);
    if (!rows[0]) throw this.noCa();
    return rows[0].pem;
  }

  /** Replaces the CRL and bumps the material version in one transaction, so no server reads one without the other. */
  async putCrl(crlPem: string): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      const { rowCount } = await c.query(`UPDATE ${S}.crl SET pem = $1, updated_at = now() WHERE id = 1`, [crlPem]);
      if (!rowCount) throw this.noCa();
      const { rows } = await c.query<{ v: string }>(`UPDATE ${S}.ca SET version = version + 1, updated_at = now() WHERE id = 1 RETURNING epoch || ':' || version AS v`);
      return rows[0]?.v;
    }).then((v) => v && this.watch?.observe(v));
  }

  /** Replaces the CA certificate and bumps the material version in one statement. */
  async putCaCertificate(certPem: string): Promise<void> {
    const { rowCount } = await this.pool.query(`UPDATE ${S}.ca SET cert_pem = $1, version = version + 1, updated_at = now() WHERE id = 1`, [certPem]);
    if (!rowCount) throw this.noCa();
  }

  /**
   * Inserts the records (a serial already recorded keeps its first record) and the audit
   * records in one statement; the first ones of a CA whose records are still in its CRL
   * only, in one transaction with that rebuild.
   */
  async putRevocations(recs: RevocationRecord[], audit: AuditRecord[]): Promise<void> {
    await records.putRevocations(this.pool, recs, audit);
  }

  /** In the order recorded; rebuilt from the CRL, and kept, when there are none yet (a CA imported from Puppet). */
  async listRevocations(): Promise<RevocationRecord[]> {
    return records.listRevocations(this.pool);
  }

  async getRevocation(serial: bigint): Promise<RevocationRecord | undefined> {
    return records.getRevocation(this.pool, serial);
  }

  async findBySerial(serial: bigint, summarize: Summarize): Promise<IndexEntry | undefined> {
    return records.findBySerial(this.pool, serial, summarize);
  }

  /** One multi-row insert, in the records' order. */
  async appendAudit(recs: AuditRecord[]): Promise<void> {
    await records.appendAudit(this.pool, recs);
  }

  /** Filtered in SQL; with a limit, the most recent records; oldest first. */
  async readAudit(query: AuditQuery): Promise<AuditRecord[]> {
    return records.readAudit(this.pool, query);
  }

  /** From the notifications while they flow (no round trip), else read. */
  async materialVersion(): Promise<string> {
    const known = this.watch?.version();
    if (known !== undefined) return known;
    const { rows } = await this.pool.query<{ v: string }>(VERSION_SQL);
    return rows[0]?.v ?? "absent";
  }

  /** RequestTimesStore: when each request row was written. */
  async requestTimes(names: readonly string[]): Promise<Map<string, Date>> {
    const { rows } = await this.pool.query<{ name: string; updated_at: Date }>(`SELECT name, updated_at FROM ${S}.requests WHERE name = ANY($1::text[])`, [names]);
    return new Map(rows.map((r) => [r.name, r.updated_at]));
  }

  // ---------------------------------------------------------------- console users and sessions (accounts.ts)

  getLoginCounters(keys: readonly string[]): Promise<Map<string, LoginCounter>> {
    return this.accounts.getLoginCounters(keys);
  }

  updateLoginCounters(keys: readonly string[], change: (current: Map<string, LoginCounter>) => Map<string, LoginCounter | undefined>): Promise<void> {
    return this.accounts.updateLoginCounters(keys, change);
  }

  pruneLoginCounters(failuresBefore: Date, lockedBefore: Date): Promise<number> {
    return this.accounts.pruneLoginCounters(failuresBefore, lockedBefore);
  }

  createUser(user: ConsoleUser): Promise<void> {
    return this.accounts.createUser(user);
  }
  updateUser(user: ConsoleUser): Promise<boolean> {
    return this.accounts.updateUser(user);
  }
  getUser(name: string): Promise<ConsoleUser | undefined> {
    return this.accounts.getUser(name);
  }
  listUsers(): Promise<ConsoleUser[]> {
    return this.accounts.listUsers();
  }
  deleteUser(name: string): Promise<boolean> {
    return this.accounts.deleteUser(name);
  }
  putSession(session: ConsoleSession): Promise<void> {
    return this.accounts.putSession(session);
  }
  getSession(id: string): Promise<ConsoleSession | undefined> {
    return this.accounts.getSession(id);
  }
  touchSession(id: string, lastSeen: Date): Promise<boolean> {
    return this.accounts.touchSession(id, lastSeen);
  }
  deleteSession(id: string): Promise<boolean> {
    return this.accounts.deleteSession(id);
  }
  deleteSessionsOf(user: string): Promise<number> {
    return this.accounts.deleteSessionsOf(user);
  }
  pruneSessions(idleBefore: Date, createdBefore: Date): Promise<number> {
    return this.accounts.pruneSessions(idleBefore, createdBefore);
  }

  // ---------------------------------------------------------------- archives and tracking (ca/lifecycle)

  readonly archiveKind = "postgres";

  /** Every row of every fleetca table, from one snapshot (archive.ts). */
  exportArchive(): AsyncIterable<ArchiveItem> {
    return exportRows(this.pool);
  }

  /** Replaces every row in one transaction (archive.ts). */
  importArchive(items: AsyncIterable<ArchiveItem>): Promise<void> {
    return importRows(this.pool, items);
  }

  startTracking(state: RegenerationState, names: string[]): Promise<void> {
    return tracking.startTracking(this.pool, state, names);
  }

  readTracking(): Promise<{ state: RegenerationState; nodes: TrackedNode[] } | undefined> {
    return tracking.readTracking(this.pool);
  }

  markSeen(name: string, at: Date, address: string): Promise<void> {
    return tracking.markSeen(this.pool, name, at, address);
  }

  dismissNode(name: string, at: Date): Promise<boolean> {
    return tracking.dismissNode(this.pool, name, at);
  }

  stopTracking(): Promise<void> {
    return tracking.stopTracking(this.pool);
  }

  endOverlap(at: Date): Promise<boolean> {
    return tracking.endOverlap(this.pool, at);
  }

  /** Both tables emptied in one transaction. */
  async clearIssued(): Promise<{ requests: number; certificates: number }> {
    return inTransaction(this.pool, async (c) => {
      const r = await c.query(`DELETE FROM ${S}.requests`);
      const k = await c.query(`DELETE FROM ${S}.certificates`);
      return { requests: r.rowCount ?? 0, certificates: k.rowCount ?? 0 };
    });
  }

  async close(): Promise<void> {
    await this.watch?.stop();
    await this.pool.end();
  }

  private async getPem(table: "requests" | "certificates", name: string): Promise<string | undefined> {
    assertName(name);
    const { rows } = await this.pool.query<{ pem: string }>(`SELECT pem FROM ${S}.${table} WHERE name = $1`, [name]);
    return rows[0]?.pem;
  }

  private async deletePem(table: "requests" | "certificates", name: string): Promise<boolean> {
    assertName(name);
    const { rowCount } = await this.pool.query(`DELETE FROM ${S}.${table} WHERE name = $1`, [name]);
    return (rowCount ?? 0) > 0;
  }

  private noCa(): Error {
    return new Error(
      `No CA in ${this.location}. Run \`fleetca ca setup --store <url>\` to create one, ` +
        `or \`fleetca ca import --store <url>\` to bring an existing one.`,
    );
  }
}

/**
 * The ca validates certnames before they reach a store; this is the last line of defence.
 * Names are query parameters, so nothing here is about SQL: empty and NUL-bearing names
 * (which PostgreSQL text cannot hold) are refused with a clear message.
 */
function assertName(name: string): void {
  if (name === "" || name.includes("\0")) throw new Error(`Refusing certificate name ${JSON.stringify(name)}`);
}

/**
 * The store as callers see it: an error that means the database could not be reached or was
 * lost mid-statement (a restart, a failover, a network cut) becomes a StoreUnavailableError,
 * which the server answers with 503 and Retry-After. Other errors pass unchanged.
 */
function unavailableWhenUnreachable(store: PostgresStore, location: string, secrets: string[], queryTimeoutMs: number): PostgresStore {
  const translate = (e: unknown): never => {
    if (e instanceof StoreUnavailableError) throw e;
    if (e instanceof NotPrimaryError || isUnreachable(e) || (e as { lockLost?: boolean })?.lockLost) {
      const why = isQueryTimeout(e)
        ? `connected, but no answer to a statement within ${queryTimeoutMs / 1000} s: the database server is frozen, overloaded or cut off`
        : scrub((e as Error).message, secrets);
      throw Object.assign(new StoreUnavailableError(`The PostgreSQL store ${location} is unavailable (${why}); the request did not complete, try again shortly.`), { cause: e });
    }
    throw e;
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || prop === "constructor") return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result instanceof Promise ? result.catch(translate) : result;
      };
    },
  });
}

/** The URL's `query_timeout` (milliseconds), which node-postgres applies over the pool's. */
function queryTimeoutOf(url: string): number | undefined {
  const text = /[?&]query_timeout=([^&#]*)/.exec(url)?.[1];
  if (text === undefined) return undefined;
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`query_timeout=${text} in the store URL is not a positive number of milliseconds`);
  return ms;
}
