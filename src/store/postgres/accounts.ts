/**
 * Console users and sessions on PostgreSQL (tables fleetca.console_users and
 * fleetca.console_sessions, migration 4): every CA server on the database sees the same
 * users and sessions, so a browser can be sent to any of them. Names and ids reach SQL as
 * parameters only.
 */
import type pg from "pg";
import { StoreConflictError, type AccountStore, type ConsoleSession, type ConsoleUser } from "../../ca/store.js";
import { SCHEMA as S } from "./migrations.js";

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
}
