/** Re-enrollment tracking on PostgreSQL: one regeneration row and one row per tracked node. */
import type pg from "pg";
import type { RegenerationState, TrackedNode } from "../../ca/store.js";
import { SCHEMA as S } from "./migrations.js";
import { inTransaction } from "./tx.js";
import { regenerationFromJson, regenerationToJson, type RegenerationJson } from "../regeneration-json.js";

export async function startTracking(pool: pg.Pool, state: RegenerationState, names: string[]): Promise<void> {
  const json = regenerationToJson(state);
  await inTransaction(pool, async (c) => {
    await c.query(`DELETE FROM ${S}.reenroll_nodes`);
    await c.query(`INSERT INTO ${S}.regeneration (id, state) VALUES (1, $1::jsonb) ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state`, [JSON.stringify(json)]);
    for (let i = 0; i < names.length; i += 10_000) {
      await c.query(`INSERT INTO ${S}.reenroll_nodes (name) SELECT unnest($1::text[])`, [names.slice(i, i + 10_000)]);
    }
  });
}

export async function readTracking(pool: pg.Pool): Promise<{ state: RegenerationState; nodes: TrackedNode[] } | undefined> {
  const { rows } = await pool.query<{ state: RegenerationJson }>(`SELECT state FROM ${S}.regeneration WHERE id = 1`);
  const j = rows[0]?.state;
  if (!j) return undefined;
  const { rows: nodes } = await pool.query<{ name: string; last_seen_at: Date | null; last_seen_addr: string | null; dismissed_at: Date | null }>(
    `SELECT name, last_seen_at, last_seen_addr, dismissed_at FROM ${S}.reenroll_nodes ORDER BY name COLLATE "C"`,
  );
  return {
    state: regenerationFromJson(j),
    nodes: nodes.map((n) => ({
      name: n.name,
      ...(n.last_seen_at ? { lastSeenAt: n.last_seen_at } : {}),
      ...(n.last_seen_addr ? { lastSeenAddress: n.last_seen_addr } : {}),
      ...(n.dismissed_at ? { dismissedAt: n.dismissed_at } : {}),
    })),
  };
}

export async function markSeen(pool: pg.Pool, name: string, at: Date, address: string): Promise<void> {
  await pool.query(`UPDATE ${S}.reenroll_nodes SET last_seen_at = $2, last_seen_addr = $3 WHERE name = $1`, [name, at, address]);
}

export async function dismissNode(pool: pg.Pool, name: string, at: Date): Promise<boolean> {
  const r = await pool.query(`UPDATE ${S}.reenroll_nodes SET dismissed_at = $2 WHERE name = $1`, [name, at]);
  return (r.rowCount ?? 0) > 0;
}

export async function stopTracking(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query(`DELETE FROM ${S}.reenroll_nodes`);
    await c.query(`DELETE FROM ${S}.regeneration`);
  });
}

/** Only ever earlier: the JSON keeps the ISO spelling regeneration-json.ts writes. */
export async function endOverlap(pool: pg.Pool, at: Date): Promise<boolean> {
  const r = await pool.query(
    `UPDATE ${S}.regeneration SET state = jsonb_set(state, '{overlapUntil}', to_jsonb($1::text))
      WHERE id = 1 AND state ? 'overlapUntil' AND (state->>'overlapUntil')::timestamptz > $1::timestamptz`,
    [at.toISOString()],
  );
  if ((r.rowCount ?? 0) > 0) return true;
  const { rows } = await pool.query(`SELECT 1 FROM ${S}.regeneration WHERE id = 1 AND state ? 'overlapUntil'`);
  return rows.length > 0;
}
