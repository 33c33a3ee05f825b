/**
 * Revocation records and the audit trail on PostgreSQL. Both travel to SQL as one jsonb
 * parameter per batch (one round trip however many rows), inserted in the batch's order so
 * the identity columns keep it; the statements here are fragments the callers put into
 * their own statement or transaction, so a record lands in the same commit as its change.
 *
 * Rebuilding records from a CRL means reading one. Node has no CRL parser (its
 * X509Certificate covers certificates only, which is how the CA's inventory line is read), so
 * this imports the pki layer's small, pure CRL readers: the one exception to "stores do not
 * import pki". The value types come from the contract (ca/store.ts) alone.
 */
import type pg from "pg";
import type { AuditQuery, AuditRecord, IndexEntry, RevocationRecord, Summarize } from "../../ca/store.js";
import { crlStateFromDer, listCrlEntries } from "../../pki/crl.js";
import { reasonFromCode } from "../../pki/crl-reasons.js";
import { fromPem } from "../../pki/pem.js";
import { SCHEMA as S } from "./migrations.js";
import { toEntries, type IndexRow } from "./rows.js";
import { inTransaction } from "./tx.js";

type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;
type RevocationReason = RevocationRecord["reason"];

// ---------------------------------------------------------------- audit

/** The audit rows of `$n`, a jsonb array of auditJson's objects, in array order. */
export function insertAuditSql(n: number): string {
  return `INSERT INTO ${S}.audit (time, action, outcome, names, serials, who, who_kind, from_addr, reason, detail)
    SELECT r.time::timestamptz, r.action, r.outcome, ARRAY(SELECT jsonb_array_elements_text(r.names)),
           ARRAY(SELECT jsonb_array_elements_text(r.serials)), r.who, r.who_kind, r.from_addr, r.reason, r.detail
      FROM jsonb_array_elements($${n}::jsonb) WITH ORDINALITY AS x(value, n),
           jsonb_to_record(x.value) AS r(time text, action text, outcome text, names jsonb, serials jsonb, who text,
             who_kind text, from_addr text, reason text, detail text)
     ORDER BY x.n`;
}

/** The parameter for insertAuditSql. */
export function auditJson(records: readonly AuditRecord[]): string {
  return JSON.stringify(
    records.map((r) => ({
      time: r.time,
      action: r.action,
      outcome: r.outcome,
      names: r.names,
      serials: r.serials,
      who: r.who,
      who_kind: r.whoKind,
      from_addr: r.from,
      reason: r.reason ?? null,
      detail: r.detail ?? null,
    })),
  );
}

export async function appendAudit(db: Queryable, records: readonly AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db.query(insertAuditSql(1), [auditJson(records)]);
}

interface AuditRow {
  time: Date;
  action: string;
  outcome: string;
  names: string[];
  serials: string[];
  who: string;
  who_kind: string;
  from_addr: string;
  reason: string | null;
  detail: string | null;
}

/**
 * The records matching the query, oldest first (in the order appended); with a limit, the
 * most recent ones. The filters are fixed fragments; only values travel as parameters.
 */
export async function readAudit(db: Queryable, q: AuditQuery): Promise<AuditRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.since) where.push(`time >= $${params.push(q.since)}`);
  if (q.action) where.push(`action = $${params.push(q.action)}`);
  // @> rather than = ANY(names): the GIN index on names serves the former only.
  if (q.name !== undefined) where.push(`names @> ARRAY[$${params.push(q.name)}::text]`);
  const limit = q.limit === undefined ? "" : `LIMIT $${params.push(Math.max(0, Math.floor(q.limit)))}`;
  const { rows } = await db.query<AuditRow & { id: string }>(
    `SELECT * FROM (
       SELECT id, time, action, outcome, names, serials, who, who_kind, from_addr, reason, detail FROM ${S}.audit
       ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC ${limit}
     ) AS recent ORDER BY id`,
    params,
  );
  return rows.map(auditOf);
}

function auditOf(r: AuditRow): AuditRecord {
  return {
    time: r.time.toISOString(),
    action: r.action as AuditRecord["action"],
    outcome: r.outcome as AuditRecord["outcome"],
    names: r.names,
    serials: r.serials,
    who: r.who,
    whoKind: r.who_kind as AuditRecord["whoKind"],
    from: r.from_addr,
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.detail !== null ? { detail: r.detail } : {}),
  };
}

// ---------------------------------------------------------------- revocations

/** The `by` of a record rebuilt from the CRL (RevocationRecord.by). */
const FROM_CRL = "crl";

/**
 * Inserts `$n`, a jsonb array of revocationJson's objects, in order. A serial already
 * recorded keeps its record, with one exception: a record only rebuilt from the CRL gives way
 * to the real one. The CA records and publishes side by side, so a listing may rebuild from
 * the new CRL an entry whose record is still on its way; without this its principal and
 * name would be lost to "crl".
 */
export function insertRevocationsSql(n: number): string {
  return `INSERT INTO ${S}.revocations AS old (serial, name, revoked_at, reason, revoked_by)
    SELECT r.serial::numeric, r.name, r.revoked_at::timestamptz, r.reason, r.revoked_by
      FROM jsonb_array_elements($${n}::jsonb) WITH ORDINALITY AS x(value, n),
           jsonb_to_record(x.value) AS r(serial text, name text, revoked_at text, reason text, revoked_by text)
     ORDER BY x.n
    ON CONFLICT (serial) DO UPDATE SET name = EXCLUDED.name, revoked_at = EXCLUDED.revoked_at, reason = EXCLUDED.reason,
      revoked_by = EXCLUDED.revoked_by, recorded_at = now()
      WHERE old.revoked_by = '${FROM_CRL}' AND EXCLUDED.revoked_by <> '${FROM_CRL}'`;
}

/** The parameter for insertRevocationsSql; only the first record of a serial (ON CONFLICT DO UPDATE takes each row once). */
export function revocationJson(records: readonly RevocationRecord[]): string {
  const seen = new Set<bigint>();
  const rows: object[] = [];
  for (const r of records) {
    if (seen.has(r.serial)) continue;
    seen.add(r.serial);
    rows.push({ serial: r.serial.toString(), name: r.name, revoked_at: r.revokedAt.toISOString(), reason: r.reason, revoked_by: r.by });
  }
  return JSON.stringify(rows);
}

interface RevocationRow {
  serial: string;
  name: string;
  revoked_at: Date;
  reason: string;
  revoked_by: string;
}

const REVOCATION_COLUMNS = "serial::text AS serial, name, revoked_at, reason, revoked_by";

function revocationOf(r: RevocationRow): RevocationRecord {
  return { serial: BigInt(r.serial), name: r.name, revokedAt: r.revoked_at, reason: r.reason as RevocationReason, by: r.revoked_by };
}

/**
 * Records revocations and their audit records in one statement. The first ones of a CA
 * whose revocations are still only in its CRL (imported from Puppet) go in one transaction
 * after records for the CRL's entries, so those keep their place before them.
 */
export async function putRevocations(pool: pg.Pool, records: readonly RevocationRecord[], audit: readonly AuditRecord[]): Promise<void> {
  if (records.length === 0 && audit.length === 0) return;
  const statement = `WITH revs AS (${insertRevocationsSql(1)}) ${insertAuditSql(2)}`;
  const params = [revocationJson(records), auditJson(audit)];
  if (records.length > 0 && !(await hasRevocations(pool))) {
    await inTransaction(pool, async (c) => {
      // The CRL being published beside this may already list them: theirs are the records given here.
      await takeInLocked(c, new Set(records.map((r) => r.serial)));
      await c.query(statement, params);
    });
    return;
  }
  // The usual case: one statement, atomic on its own.
  await pool.query(statement, params);
}

async function hasRevocations(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${S}.revocations) AS any`);
  return rows[0]?.any ?? false;
}

/**
 * Every record in the order recorded. Serials the CRL lists without a record are taken in
 * first, by "crl", and kept: all of them for a CA imported from Puppet, or one whose record
 * was lost while its CRL was published (the CA writes both side by side).
 */
export async function listRevocations(pool: pg.Pool): Promise<RevocationRecord[]> {
  const select = `SELECT ${REVOCATION_COLUMNS} FROM ${S}.revocations ORDER BY seq`;
  let { rows } = await pool.query<RevocationRow>(select);
  const crl = await crlDerOf(pool);
  if (crl) {
    const known = new Set(rows.map((r) => BigInt(r.serial)));
    // Only the serials are decoded to compare: the usual answer is that nothing is missing.
    let missing = false;
    for (const serial of crlStateFromDer(crl).serials) {
      if (known.has(serial)) continue;
      missing = true;
      break;
    }
    if (missing) {
      await inTransaction(pool, (c) => takeInLocked(c, known));
      ({ rows } = await pool.query<RevocationRow>(select));
    }
  }
  return rows.map(revocationOf);
}

export async function getRevocation(pool: pg.Pool, serial: bigint): Promise<RevocationRecord | undefined> {
  // One round trip tells a miss from a table still to be rebuilt.
  const { rows } = await pool.query<Partial<RevocationRow> & { empty: boolean }>(
    `SELECT r.serial::text AS serial, r.name, r.revoked_at, r.reason, r.revoked_by,
            NOT EXISTS (SELECT 1 FROM ${S}.revocations) AS empty
       FROM (SELECT 1) AS one LEFT JOIN ${S}.revocations r ON r.serial = $1::numeric`,
    [serial.toString()],
  );
  const row = rows[0];
  if (row?.serial != null) return revocationOf(row as RevocationRow);
  if (!row?.empty) return undefined;
  return (await listRevocations(pool)).find((r) => r.serial === serial);
}

/** The CRL's DER, or undefined when there is no CA yet. */
async function crlDerOf(db: Queryable): Promise<Buffer | undefined> {
  const { rows } = await db.query<{ pem: string }>(`SELECT pem FROM ${S}.crl WHERE id = 1`);
  return rows[0] ? fromPem(rows[0].pem, ["X509 CRL"], "CRL") : undefined;
}

/**
 * Inside a transaction: a record, by "crl", for each CRL entry but those in `exclude` (already
 * recorded, or about to be), in the CRL's order. The name is the CN of the serial's latest
 * inventory line (Puppet's "/CN=name"), else the certificate holding the serial, else "".
 * The table lock makes a concurrent putRevocations wait, so these come before its records.
 */
async function takeInLocked(c: pg.PoolClient, exclude: ReadonlySet<bigint>): Promise<void> {
  await c.query(`LOCK TABLE ${S}.revocations IN SHARE ROW EXCLUSIVE MODE`);
  const der = await crlDerOf(c);
  const entries = der ? listCrlEntries(der).filter((e) => !exclude.has(e.serial)) : [];
  if (entries.length === 0) return;
  const json = JSON.stringify(entries.map((e) => ({ serial: e.serial.toString(), revoked_at: e.date.toISOString(), reason: reasonFromCode(e.reasonCode) })));
  await c.query(
    `INSERT INTO ${S}.revocations (serial, name, revoked_at, reason, revoked_by)
     SELECT e.serial, coalesce(substring(inv.subject from '(?:^|/)CN=([^/]*)$'), cert.name, ''), e.revoked_at, e.reason, '${FROM_CRL}'
       FROM (SELECT x.n, r.serial::numeric AS serial, r.revoked_at::timestamptz AS revoked_at, r.reason
               FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(value, n),
                    jsonb_to_record(x.value) AS r(serial text, revoked_at text, reason text)) AS e
       LEFT JOIN LATERAL (SELECT subject FROM ${S}.inventory WHERE serial = e.serial ORDER BY id DESC LIMIT 1) AS inv ON true
       LEFT JOIN LATERAL (SELECT name FROM ${S}.certificates WHERE serial = e.serial ORDER BY name LIMIT 1) AS cert ON true
      ORDER BY e.n
     ON CONFLICT (serial) DO NOTHING`,
    [json],
  );
}

/** The certificate a name currently holds with this serial; rows another tool inserted bare are summarized first. */
export async function findBySerial(pool: pg.Pool, serial: bigint, summarize: Summarize): Promise<IndexEntry | undefined> {
  const { rows } = await pool.query<IndexRow>(
    `SELECT 'certificate' AS kind, name, sha256, alt_names, auth_extensions, serial::text AS serial, not_before, not_after,
            CASE WHEN sha256 IS NULL OR serial IS NULL OR not_before IS NULL OR not_after IS NULL THEN pem END AS pem
       FROM ${S}.certificates WHERE serial = $1::numeric OR serial IS NULL ORDER BY name COLLATE "C"`,
    [serial.toString()],
  );
  return (await toEntries(pool, rows, summarize)).find((e) => e.serial === serial);
}
