/**
 * Console users and sessions on PostgreSQL (tables fleetca.console_users and
 * fleetca.console_sessions, migration 4): every CA server on the database sees the same
 * users and sessions, so a browser can be sent to any of them. Names and ids reach SQL as
 * parameters only.
 */
import type pg from "pg";
import { StoreConflictError, type AccountStore, type ConsoleSession, type ConsoleUser, type LoginCounter } from "../../ca/store.js";
import { SCHEMA as S } from "./migrations.js";
import { inTransaction } from "./tx.js";

interface CounterRow {
  key: string;
  failures: Date[];
  locked_until: Date | null;
}

/** A row with neither failures nor lock is a placeholder (updateLoginCounters): no counter. */
function countersOf(rows: CounterRow[]): Map<string, LoginCounter> {
  const out = new Map<string, LoginCounter>();
  for (const r of rows) {
    if (r.failures.length === 0 && !r.locked_until) continue;
    out.set(r.key, { failures: r.failures, ...(r.locked_until ? { lockedUntil: r.locked_until } : {}) });
  }
  return out;
}

interface UserRow {
  name: string;
  role: ConsoleUser["role"];
  password_hash: string;
  created_at: Date;
  updated_at: Date;
}

interface SessionRow {
  id: string;
  username: string;
  csrf: string;
  created_at: Date;
  last_seen: Date;
  from_addr: string;
}

const userOf = (r: UserRow): ConsoleUser => ({ name: r.name, role: r.role, passwordHash: r.password_hash, createdAt: r.created_at, updatedAt: r.updated_at });
const sessionOf = (r: SessionRow): ConsoleSession => ({ id: r.id, user: r.username, csrf: r.csrf, createdAt: r.created_at, lastSeen: r.last_seen, from: r.from_addr });

export class PostgresAccounts implements AccountStore {
  constructor(private readonly pool: pg.Pool) {}

  async createUser(u: ConsoleUser): Promise<void> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO ${S}.console_users (name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
      [u.name, u.role, u.passwordHash, u.createdAt, u.updatedAt],
    );
    if (rowCount !== 1) throw new StoreConflictError(`console user ${u.name} exists`);
  }

  async updateUser(u: ConsoleUser): Promise<boolean> {
    const { rowCount } = await this.pool.query(`UPDATE ${S}.console_users SET role = $2, password_hash = $3, updated_at = $4 WHERE name = $1`, [u.name, u.role, u.passwordHash, u.updatedAt]);
    return rowCount === 1;
  }

  async getUser(name: string): Promise<ConsoleUser | undefined> {
    const { rows } = await this.pool.query<UserRow>(`SELECT * FROM ${S}.console_users WHERE name = $1`, [name]);
    return rows[0] ? userOf(rows[0]) : undefined;
  }

  async listUsers(): Promise<ConsoleUser[]> {
    const { rows } = await this.pool.query<UserRow>(`SELECT * FROM ${S}.console_users ORDER BY name COLLATE "C"`);
    return rows.map(userOf);
  }

  /** Sessions go with the user (ON DELETE CASCADE). */
  async deleteUser(name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${S}.console_users WHERE name = $1`, [name]);
    return rowCount === 1;
  }

  async putSession(s: ConsoleSession): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${S}.console_sessions (id, username, csrf, created_at, last_seen, from_addr) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, csrf = EXCLUDED.csrf, created_at = EXCLUDED.created_at,
         last_seen = EXCLUDED.last_seen, from_addr = EXCLUDED.from_addr`,
      [s.id, s.user, s.csrf, s.createdAt, s.lastSeen, s.from],
    );
  }

  async getSession(id: string): Promise<ConsoleSession | undefined> {
    const { rows } = await this.pool.query<SessionRow>(`SELECT * FROM ${S}.console_sessions WHERE id = $1`, [id]);
    return rows[0] ? sessionOf(rows[0]) : undefined;
  }

  async touchSession(id: string, lastSeen: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query(`UPDATE ${S}.console_sessions SET last_seen = greatest(last_seen, $2) WHERE id = $1`, [id, lastSeen]);
    return rowCount === 1;
  }

  async deleteSession(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${S}.console_sessions WHERE id = $1`, [id]);
    return rowCount === 1;
  }

  async deleteSessionsOf(user: string): Promise<number> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${S}.console_sessions WHERE username = $1`, [user]);
    return rowCount ?? 0;
  }

  async pruneSessions(idleBefore: Date, createdBefore: Date): Promise<number> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${S}.console_sessions WHERE last_seen < $1 OR created_at < $2`, [idleBefore, createdBefore]);
    return rowCount ?? 0;
  }

  // Login counters (table fleetca.console_login_counters): shared by every server, so a lock holds on all.

  async getLoginCounters(keys: readonly string[]): Promise<Map<string, LoginCounter>> {
    const { rows } = await this.pool.query<CounterRow>(`SELECT key, failures, locked_until FROM ${S}.console_login_counters WHERE key = ANY($1::text[])`, [keys]);
    return countersOf(rows);
  }

  /**
   * Placeholder rows first (ON CONFLICT DO NOTHING), so that FOR UPDATE has a row to lock
   * even for a key no server has counted yet: two servers counting the same new key's
   * failure at once then queue on it instead of both inserting. Locked in key order, so two
   * logins locking the same two keys cannot deadlock.
   */
  async updateLoginCounters(keys: readonly string[], change: (current: Map<string, LoginCounter>) => Map<string, LoginCounter | undefined>): Promise<void> {
    const sorted = [...new Set(keys)].sort();
    await inTransaction(this.pool, async (c) => {
      await c.query(`INSERT INTO ${S}.console_login_counters (key) SELECT unnest($1::text[]) ON CONFLICT (key) DO NOTHING`, [sorted]);
      const { rows } = await c.query<CounterRow>(`SELECT key, failures, locked_until FROM ${S}.console_login_counters WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`, [sorted]);
      const next = change(countersOf(rows));
      for (const key of sorted) {
        const counter = next.get(key);
        if (!counter || (counter.failures.length === 0 && !counter.lockedUntil)) await c.query(`DELETE FROM ${S}.console_login_counters WHERE key = $1`, [key]);
        else await c.query(`UPDATE ${S}.console_login_counters SET failures = $2, locked_until = $3 WHERE key = $1`, [key, counter.failures, counter.lockedUntil ?? null]);
      }
    });
  }

  async pruneLoginCounters(failuresBefore: Date, lockedBefore: Date): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM ${S}.console_login_counters WHERE coalesce((SELECT max(t) FROM unnest(failures) AS t), '-infinity') < $1 AND coalesce(locked_until, '-infinity') < $2`,
      [failuresBefore, lockedBefore],
    );
    return rowCount ?? 0;
  }
}
