/**
 * Moving a whole CA into PostgreSQL: material, next serial, pending requests, signed
 * certificates, the full inventory (including lines of certificates cleaned since), the
 * revocation records and the audit trail, so
 * that after the move the CA servers list and continue exactly what the old CA had.
 * `fleetca ca import` only takes the material and serial; this takes the rest as well.
 */
import type pg from "pg";
import type { CaStore, IndexEntry, Summarize } from "../../ca/store.js";
import { SCHEMA } from "./migrations.js";
import { auditJson, insertAuditSql, insertRevocationsSql, revocationJson } from "./records.js";

/** Rows per INSERT: large enough to amortize round trips, small enough to keep each statement a few MB. */
const BATCH = 500;

export interface CopyCounts {
  requests: number;
  certificates: number;
  inventory: number;
  revocations: number;
  audit: number;
}

/**
 * Copies everything but the CA material (which the caller has initialized in the same
 * transaction) from `source` into the tables, through `client`. The source should be held
 * still (its withLock) meanwhile, so the snapshot is consistent.
 */
export async function copyRows(client: pg.PoolClient, source: CaStore, summarize: Summarize): Promise<CopyCounts> {
  const counts: CopyCounts = { requests: 0, certificates: 0, inventory: 0, revocations: 0, audit: 0 };
  const entries = await source.listIndex(summarize);
  for (let i = 0; i < entries.length; i += BATCH) {
    const chunk = entries.slice(i, i + BATCH);
    const requests: object[] = [];
    const certificates: object[] = [];
    for (const e of chunk) {
      const pem = e.state === "requested" ? await source.getRequest(e.name) : await source.getCertificate(e.name);
      // Removed from the source while we were listing: nothing to copy.
      if (pem === undefined) continue;
      (e.state === "requested" ? requests : certificates).push(rowOf(e, pem));
    }
    counts.requests += await insertJson(client, "requests", requests);
    counts.certificates += await insertJson(client, "certificates", certificates);
  }
  const inventory = await source.readInventory();
  for (let i = 0; i < inventory.length; i += BATCH) {
    const rows = inventory.slice(i, i + BATCH).map((e) => ({
      serial: e.serial.toString(),
      not_before: e.notBefore.toISOString(),
      not_after: e.notAfter.toISOString(),
      subject: e.subject,
    }));
    counts.inventory += await insertJson(client, "inventory", rows);
  }
  // A Puppet CA's records are rebuilt from its CRL by the source (the contract's listRevocations).
  const revocations = await source.listRevocations();
  for (let i = 0; i < revocations.length; i += BATCH) {
    const { rowCount } = await client.query(insertRevocationsSql(1), [revocationJson(revocations.slice(i, i + BATCH))]);
    counts.revocations += rowCount ?? 0;
  }
  const audit = await source.readAudit({});
  for (let i = 0; i < audit.length; i += BATCH) {
    const { rowCount } = await client.query(insertAuditSql(1), [auditJson(audit.slice(i, i + BATCH))]);
    counts.audit += rowCount ?? 0;
  }
  return counts;
}

function rowOf(e: IndexEntry, pem: string): object {
  return {
    name: e.name,
    pem,
    sha256: e.sha256,
    alt_names: e.altNames,
    auth_extensions: e.authExtensions,
    serial: e.serial?.toString() ?? null,
    not_before: e.notBefore?.toISOString() ?? null,
    not_after: e.notAfter?.toISOString() ?? null,
  };
}

/** The column list per table; the rows travel as one jsonb parameter, never as SQL text. */
const INSERTS = {
  requests: `INSERT INTO ${SCHEMA}.requests (name, pem, sha256, alt_names, auth_extensions)
    SELECT r.name, r.pem, r.sha256, ARRAY(SELECT jsonb_array_elements_text(r.alt_names)), r.auth_extensions
      FROM jsonb_to_recordset($1::jsonb) AS r(name text, pem text, sha256 text, alt_names jsonb, auth_extensions jsonb)`,
  certificates: `INSERT INTO ${SCHEMA}.certificates (name, pem, sha256, alt_names, auth_extensions, serial, not_before, not_after)
    SELECT r.name, r.pem, r.sha256, ARRAY(SELECT jsonb_array_elements_text(r.alt_names)), r.auth_extensions,
           r.serial::numeric, r.not_before::timestamptz, r.not_after::timestamptz
      FROM jsonb_to_recordset($1::jsonb)
        AS r(name text, pem text, sha256 text, alt_names jsonb, auth_extensions jsonb, serial text, not_before text, not_after text)`,
  // ORDER BY ordinality keeps the source's line order in the identity column.
  inventory: `INSERT INTO ${SCHEMA}.inventory (serial, not_before, not_after, subject)
    SELECT r.serial::numeric, r.not_before::timestamptz, r.not_after::timestamptz, r.subject
      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(value, n),
           jsonb_to_record(x.value) AS r(serial text, not_before text, not_after text, subject text)
     ORDER BY x.n`,
} as const;

async function insertJson(client: pg.PoolClient, table: keyof typeof INSERTS, rows: object[]): Promise<number> {
  if (rows.length === 0) return 0;
  const { rowCount } = await client.query(INSERTS[table], [JSON.stringify(rows)]);
  return rowCount ?? 0;
}
