/**
 * The PostgreSQL store as archive items and back: every row of every fleetca table (but the
 * migration ledger), read in one REPEATABLE READ snapshot, batches of rows as JSON arrays.
 * Restoring replaces every row in one transaction: nothing changes unless all of it lands.
 * The append-only triggers of the inventory and the audit trail are set aside for that
 * transaction only (ALTER TABLE is transactional), which needs the tables' owner, as
 * migrations do.
 */
import type pg from "pg";
import type { ArchiveItem } from "../../ca/store.js";
import { SCHEMA, SCHEMA_VERSION } from "./migrations.js";
import { inTransaction } from "./tx.js";

const BATCH = 5000;
const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;

/** The schema's tables, each after the tables it references (rows restore in this order). */
async function tables(c: pg.PoolClient): Promise<string[]> {
  const { rows } = await c.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY 1`,
    [SCHEMA],
  );
  const { rows: fks } = await c.query<{ child: string; parent: string }>(
    `SELECT cl.relname AS child, pa.relname AS parent FROM pg_constraint k
       JOIN pg_class cl ON cl.oid = k.conrelid JOIN pg_class pa ON pa.oid = k.confrelid
       WHERE k.contype = 'f' AND k.connamespace = $1::regnamespace`,
    [SCHEMA],
  );
  const out: string[] = [];
  const visit = (t: string, path: Set<string>) => {
    if (out.includes(t) || path.has(t)) return;
    path.add(t);
    for (const fk of fks) if (fk.child === t && fk.parent !== t) visit(fk.parent, path);
    out.push(t);
  };
  for (const r of rows) visit(r.t, new Set());
  return out;
}

export async function* exportRows(pool: pg.Pool): AsyncGenerator<ArchiveItem> {
  const c = await pool.connect();
  try {
    await c.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const enc = new TextEncoder();
    yield { path: "schema-version", type: "file", mode: 0o600, data: enc.encode(String(SCHEMA_VERSION)) };
    for (const t of await tables(c)) {
      for (let n = 0; ; n++) {
        const { rows } = await c.query<{ j: string | null }>(
          `SELECT json_agg(r)::text AS j FROM (SELECT * FROM ${SCHEMA}.${quote(t)} ORDER BY 1 LIMIT ${BATCH} OFFSET ${n * BATCH}) r`,
        );
        const json = rows[0]?.j;
        if (!json) break;
        yield { path: `table/${t}/${n}`, type: "file", mode: 0o600, data: enc.encode(json) };
      }
    }
    await c.query("COMMIT");
  } finally {
    c.release();
  }
}

export async function importRows(pool: pg.Pool, items: AsyncIterable<ArchiveItem>): Promise<void> {
  await inTransaction(pool, async (c) => {
    const all = await tables(c);
    for (const t of all) await c.query(`ALTER TABLE ${SCHEMA}.${quote(t)} DISABLE TRIGGER USER`);
    for (const t of [...all].reverse()) await c.query(`DELETE FROM ${SCHEMA}.${quote(t)}`);
    const dec = new TextDecoder();
    let sawVersion = false;
    for await (const item of items) {
      if (item.path === "schema-version") {
        const v = Number(dec.decode(item.data));
        if (v !== SCHEMA_VERSION) {
          throw new Error(`The archive was taken at database schema version ${v}, this fleetca writes version ${SCHEMA_VERSION}: restore it with the fleetca version that made it.`);
        }
        sawVersion = true;
        continue;
      }
      const m = /^table\/([a-z_][a-z0-9_]*)\/\d+$/.exec(item.path);
      if (!m || !all.includes(m[1]!)) throw new Error(`The archive holds ${JSON.stringify(item.path)}, which is not a table of this store.`);
      const t = `${SCHEMA}.${quote(m[1]!)}`;
      await c.query(`INSERT INTO ${t} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_recordset(NULL::${t}, $1::json)`, [dec.decode(item.data)]);
    }
    if (!sawVersion) throw new Error("The archive holds no schema version: it is not a PostgreSQL store archive.");
    const { rows: ids } = await c.query<{ t: string; col: string }>(
      `SELECT table_name AS t, column_name AS col FROM information_schema.columns WHERE table_schema = $1 AND is_identity = 'YES'`,
      [SCHEMA],
    );
    for (const { t, col } of ids) {
      await c.query(
        `SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(${quote(col)}) FROM ${SCHEMA}.${quote(t)}), 0) + 1, false)`,
        [`${SCHEMA}.${quote(t)}`, col],
      );
    }
    for (const t of all) await c.query(`ALTER TABLE ${SCHEMA}.${quote(t)} ENABLE TRIGGER USER`);
  });
}
