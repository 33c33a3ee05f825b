/**
 * Rows <-> the CaStore's values. numeric comes back from pg as a string, which is what we
 * want: BigInt takes it whole, where a JS number would round serials past 2^53.
 */
import type { Pool } from "pg";
import type { IndexEntry, InventoryEntry, Summarize } from "../../ca/store.js";
import { SCHEMA } from "./migrations.js";

export type Kind = "request" | "certificate";

/** One line of the index query; `pem` is only selected for rows another tool inserted bare. */
export interface IndexRow {
  kind: Kind;
  name: string;
  sha256: string | null;
  alt_names: string[];
  auth_extensions: Record<string, string>;
  serial: string | null;
  not_before: Date | null;
  not_after: Date | null;
  pem: string | null;
}

/**
 * Requests then certificates, in the file store's order (name by code unit, then state).
 * COLLATE "C" compares bytes, which for the ASCII names ca/names.ts allows is code-unit order.
 * `where` is a fixed fragment chosen by the caller, never built from input.
 */
export function indexQuery(where: "" | "WHERE name = $1"): string {
  return `
    SELECT * FROM (
    SELECT 'request' AS kind, name, sha256, alt_names, auth_extensions,
           NULL::text AS serial, NULL::timestamptz AS not_before, NULL::timestamptz AS not_after,
           CASE WHEN sha256 IS NULL THEN pem END AS pem
      FROM ${SCHEMA}.requests ${where}
    UNION ALL
    SELECT 'certificate', name, sha256, alt_names, auth_extensions,
           serial::text, not_before, not_after,
           CASE WHEN sha256 IS NULL OR serial IS NULL OR not_before IS NULL OR not_after IS NULL THEN pem END
      FROM ${SCHEMA}.certificates ${where}
    ) AS entries
    ORDER BY name COLLATE "C", kind DESC`;
}

/** The entry a complete row describes; undefined for a bare row (`pem` set), to summarize first. */
function entryOf(row: IndexRow): IndexEntry | undefined {
  if (row.pem !== null || row.sha256 === null) return undefined;
  const entry: IndexEntry = {
    name: row.name,
    state: row.kind === "request" ? "requested" : "signed",
    sha256: row.sha256,
    altNames: row.alt_names,
    authExtensions: row.auth_extensions,
  };
  if (row.kind === "certificate" && row.serial !== null && row.not_before && row.not_after) {
    entry.serial = BigInt(row.serial);
    entry.notBefore = row.not_before;
    entry.notAfter = row.not_after;
  }
  return entry;
}

/** Index entries for rows, summarizing (and filling in, best effort) rows another tool inserted bare. */
export async function toEntries(pool: Pool, rows: IndexRow[], summarize: Summarize): Promise<IndexEntry[]> {
  const out: IndexEntry[] = [];
  for (const row of rows) {
    let entry = entryOf(row);
    if (!entry) {
      entry = summarizeRow(row, summarize);
      if (!entry) continue;
      await backfill(pool, row.kind, row.pem ?? "", entry).catch(() => undefined);
    }
    out.push(entry);
  }
  return out;
}

/** Saves a summary so the PEM is parsed once; `pem = $2` leaves a row replaced meanwhile alone. */
async function backfill(pool: Pool, kind: Kind, pem: string, e: IndexEntry): Promise<void> {
  if (kind === "request") {
    await pool.query(
      `UPDATE ${SCHEMA}.requests SET sha256 = $3, alt_names = $4, auth_extensions = $5::jsonb WHERE name = $1 AND pem = $2`,
      [e.name, pem, ...entryParams(e)],
    );
  } else if (e.serial !== undefined && e.notBefore && e.notAfter) {
    await pool.query(
      `UPDATE ${SCHEMA}.certificates SET sha256 = $3, alt_names = $4, auth_extensions = $5::jsonb, serial = $6::numeric,
         not_before = $7, not_after = $8 WHERE name = $1 AND pem = $2`,
      [e.name, pem, ...entryParams(e), e.serial.toString(), e.notBefore, e.notAfter],
    );
  }
}

/** Summarizes a bare row, or undefined when its PEM does not parse (such rows are not listed, as in the file store). */
function summarizeRow(row: IndexRow, summarize: Summarize): IndexEntry | undefined {
  try {
    const entry = summarize(row.name, row.kind, row.pem ?? "");
    return { ...entry, name: row.name, state: row.kind === "request" ? "requested" : "signed" };
  } catch {
    return undefined;
  }
}

/** Parameters for the index columns of a requests or certificates row, in SQL order from $3. */
export function entryParams(entry: IndexEntry): unknown[] {
  return [entry.sha256, entry.altNames, JSON.stringify(entry.authExtensions)];
}

/** The certificate's validity and serial: from the entry, else from the inventory line it comes with. */
export function certParams(entry: IndexEntry, inventory: InventoryEntry): unknown[] {
  return [(entry.serial ?? inventory.serial).toString(), entry.notBefore ?? inventory.notBefore, entry.notAfter ?? inventory.notAfter];
}

export interface InventoryRow {
  serial: string;
  not_before: Date;
  not_after: Date;
  subject: string;
}

export function inventoryOf(row: InventoryRow): InventoryEntry {
  return { serial: BigInt(row.serial), notBefore: row.not_before, notAfter: row.not_after, subject: row.subject };
}
