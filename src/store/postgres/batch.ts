/**
 * The CA's optional batch capability (BatchStore in ca/store.ts): while both cores sign, the
 * CA hands the store many serials or many signed certificates under one lock. Here each is
 * one statement, so a batch costs one round trip and one commit instead of one per
 * certificate. The types are declared structurally so this file depends on nothing but
 * CaStore's value types.
 */
import type pg from "pg";
import type { AuditRecord, SignedCommit } from "../../ca/store.js";
import { SCHEMA as S } from "./migrations.js";
import { auditJson, insertAuditSql } from "./records.js";

/** One signed certificate to store; its pending request is removed in the same statement. */
export type SignedItem = SignedCommit;

/** Advances the counter by `count` atomically; returns the first of `count` consecutive serials. */
export async function allocateSerials(pool: pg.Pool, count: number): Promise<bigint | undefined> {
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`allocateSerials needs a positive whole count (got ${count})`);
  const { rows } = await pool.query<{ first: string }>(
    `UPDATE ${S}.serial_counter SET next_serial = next_serial + $1 WHERE id = 1 RETURNING (next_serial - $1)::text AS first`,
    [count],
  );
  return rows[0] ? BigInt(rows[0].first) : undefined;
}

/**
 * Upserts every certificate, appends the inventory lines and the items' audit records in the
 * items' order and removes the requests (those not marked `removeRequest: false`), in one
 * statement (all or nothing). Names must be distinct within a batch: the CA keeps only the
 * first certificate per request.
 */
export async function commitSigned(pool: pg.Pool, items: SignedItem[]): Promise<void> {
  if (items.length === 0) return;
  const rows = items.map((it) => ({
    name: it.name,
    pem: it.certPem,
    sha256: it.entry.sha256,
    alt_names: it.entry.altNames,
    auth_extensions: it.entry.authExtensions,
    serial: (it.entry.serial ?? it.inventory.serial).toString(),
    not_before: (it.entry.notBefore ?? it.inventory.notBefore).toISOString(),
    not_after: (it.entry.notAfter ?? it.inventory.notAfter).toISOString(),
    inv_serial: it.inventory.serial.toString(),
    inv_not_before: it.inventory.notBefore.toISOString(),
    inv_not_after: it.inventory.notAfter.toISOString(),
    subject: it.inventory.subject,
    remove_request: it.removeRequest !== false,
  }));
  const audit = items.flatMap((it): AuditRecord[] => (it.audit ? [it.audit] : []));
  await pool.query(
    `WITH items AS (
       SELECT x.n, r.* FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(value, n),
         jsonb_to_record(x.value) AS r(name text, pem text, sha256 text, alt_names jsonb, auth_extensions jsonb, serial text,
           not_before text, not_after text, inv_serial text, inv_not_before text, inv_not_after text, subject text,
           remove_request boolean)
     ), certs AS (
       INSERT INTO ${S}.certificates (name, pem, sha256, alt_names, auth_extensions, serial, not_before, not_after)
       SELECT name, pem, sha256, ARRAY(SELECT jsonb_array_elements_text(alt_names)), auth_extensions,
              serial::numeric, not_before::timestamptz, not_after::timestamptz FROM items
       ON CONFLICT (name) DO UPDATE SET pem = EXCLUDED.pem, sha256 = EXCLUDED.sha256, alt_names = EXCLUDED.alt_names,
         auth_extensions = EXCLUDED.auth_extensions, serial = EXCLUDED.serial, not_before = EXCLUDED.not_before,
         not_after = EXCLUDED.not_after, updated_at = now()
     ), inv AS (
       INSERT INTO ${S}.inventory (serial, not_before, not_after, subject)
       SELECT inv_serial::numeric, inv_not_before::timestamptz, inv_not_after::timestamptz, subject FROM items ORDER BY n
     ), audit AS (
       ${insertAuditSql(2)}
     )
     DELETE FROM ${S}.requests WHERE name IN (SELECT name FROM items WHERE remove_request)`,
    [JSON.stringify(rows), auditJson(audit)],
  );
}
