/**
 * Console users and sessions in the file store: two JSON files beside Puppet's (which
 * ignores them), mode 0600 since they hold password hashes and session ids:
 * `fleetca_console_users.json` and `fleetca_console_sessions.json`, and the failed-login
 * counters in `fleetca_console_logins.json` (every process on the directory counts into it). Each change rewrites
 * its file atomically under its own lock (`.fleetca-console.lock`, not the CA's, so a long
 * signing batch does not hold up a login). Reads are served from memory while the file's
 * size and mtime have not changed, so another process's change (the CLI adding a user
 * while the server runs) is seen on the next read.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { StoreConflictError, type AccountStore, type ConsoleSession, type ConsoleUser, type LoginCounter } from "../../ca/store.js";
import { isErrno, writeFileAtomic } from "./atomic.js";
import { MODES } from "./layout.js";
import { AsyncMutex, FileLock } from "./lock.js";

const SECRET_MODE = 0o600;

type Row = Record<string, string>;

const queues = new Map<string, AsyncMutex>();

class JsonTable<T> {
  private cached?: { key: string; rows: T[] };

  constructor(
    readonly path: string,
    private readonly decode: (r: Row) => T,
    private readonly encode: (t: T) => Row,
  ) {}

  async read(): Promise<T[]> {
    let key: string;
    try {
      const s = await stat(this.path);
      key = `${s.size}:${s.mtimeMs}:${s.ino}`;
    } catch (e) {
      if (isErrno(e, "ENOENT")) return [];
      throw e;
    }
    if (this.cached?.key === key) return this.cached.rows;
    const text = await readFile(this.path, "utf8");
    let rows: T[];
    try {
      rows = (JSON.parse(text) as { rows: Row[] }).rows.map(this.decode);
    } catch {
      throw new Error(`${this.path} is not a valid fleetca console file; restore it from a backup or remove it (its users or sessions are then lost).`);
    }
    this.cached = { key, rows };
    return rows;
  }

  async write(rows: T[]): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify({ rows: rows.map(this.encode) }, null, 1)}\n`, SECRET_MODE);
    this.cached = undefined;
  }
}

const userRow = (u: ConsoleUser): Row => ({ name: u.name, role: u.role, passwordHash: u.passwordHash, createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString() });
const userOf = (r: Row): ConsoleUser => ({ name: r.name!, role: r.role as ConsoleUser["role"], passwordHash: r.passwordHash!, createdAt: new Date(r.createdAt!), updatedAt: new Date(r.updatedAt!) });
const sessionRow = (s: ConsoleSession): Row => ({ id: s.id, user: s.user, csrf: s.csrf, createdAt: s.createdAt.toISOString(), lastSeen: s.lastSeen.toISOString(), from: s.from });
const sessionOf = (r: Row): ConsoleSession => ({ id: r.id!, user: r.user!, csrf: r.csrf!, createdAt: new Date(r.createdAt!), lastSeen: new Date(r.lastSeen!), from: r.from! });

type KeyedCounter = LoginCounter & { key: string };
const counterRow = (c: KeyedCounter): Row => ({ key: c.key, failures: c.failures.map((t) => t.toISOString()).join(" "), ...(c.lockedUntil ? { lockedUntil: c.lockedUntil.toISOString() } : {}) });
const counterOf = (r: Row): KeyedCounter => ({
  key: r.key!,
  failures: r.failures ? r.failures.split(" ").map((t) => new Date(t)) : [],
  ...(r.lockedUntil ? { lockedUntil: new Date(r.lockedUntil) } : {}),
});
/**
 * Counters kept at most: a flood of failed logins from ever new addresses must not grow the
 * file without bound; those whose last failure or lock is oldest go first.
 */
const MAX_COUNTERS = 10_000;
const lastOf = (c: LoginCounter): number => Math.max(c.failures.at(-1)?.getTime() ?? 0, c.lockedUntil?.getTime() ?? 0);

export class FileAccounts implements AccountStore {
  private readonly users: JsonTable<ConsoleUser>;
  private readonly sessions: JsonTable<ConsoleSession>;
  private readonly counters: JsonTable<KeyedCounter>;
  private readonly lock: FileLock;

  constructor(private readonly cadir: string) {
    this.users = new JsonTable(join(cadir, "fleetca_console_users.json"), userOf, userRow);
    this.sessions = new JsonTable(join(cadir, "fleetca_console_sessions.json"), sessionOf, sessionRow);
    this.counters = new JsonTable(join(cadir, "fleetca_console_logins.json"), counterOf, counterRow);
    this.lock = new FileLock(join(cadir, ".fleetca-console.lock"));
  }

  /** Read, change, write: under the in-process queue and the cross-process lock. */
  private locked<R>(fn: () => Promise<R>): Promise<R> {
    let queue = queues.get(this.lock.path);
    if (!queue) queues.set(this.lock.path, (queue = new AsyncMutex()));
    return queue.run(async () => {
      await mkdir(this.cadir, { recursive: true, mode: MODES.cadir });
      const release = await this.lock.acquire();
      try {
        return await fn();
      } finally {
        await release();
      }
    });
  }

  createUser(user: ConsoleUser): Promise<void> {
    return this.locked(async () => {
      const rows = await this.users.read();
      if (rows.some((u) => u.name === user.name)) throw new StoreConflictError(`console user ${user.name} exists`);
      await this.users.write([...rows, user].sort((a, b) => (a.name < b.name ? -1 : 1)));
    });
  }

  updateUser(user: ConsoleUser): Promise<boolean> {
    return this.locked(async () => {
      const rows = await this.users.read();
      if (!rows.some((u) => u.name === user.name)) return false;
      await this.users.write(rows.map((u) => (u.name === user.name ? { ...user, createdAt: u.createdAt } : u)));
      return true;
    });
  }

  async getUser(name: string): Promise<ConsoleUser | undefined> {
    return (await this.users.read()).find((u) => u.name === name);
  }

  async listUsers(): Promise<ConsoleUser[]> {
    return [...(await this.users.read())];
  }

  deleteUser(name: string): Promise<boolean> {
    return this.locked(async () => {
      const rows = await this.users.read();
      if (!rows.some((u) => u.name === name)) return false;
      // Sessions first: a crash in between leaves sessions of a user who still exists, never the reverse.
      const sessions = await this.sessions.read();
      if (sessions.some((s) => s.user === name)) await this.sessions.write(sessions.filter((s) => s.user !== name));
      await this.users.write(rows.filter((u) => u.name !== name));
      return true;
    });
  }

  putSession(session: ConsoleSession): Promise<void> {
    return this.locked(async () => {
      const rows = (await this.sessions.read()).filter((s) => s.id !== session.id);
      await this.sessions.write([...rows, session]);
    });
  }

  async getSession(id: string): Promise<ConsoleSession | undefined> {
    return (await this.sessions.read()).find((s) => s.id === id);
  }

  touchSession(id: string, lastSeen: Date): Promise<boolean> {
    return this.locked(async () => {
      const rows = await this.sessions.read();
      const old = rows.find((s) => s.id === id);
      if (!old) return false;
      if (old.lastSeen >= lastSeen) return true;
      await this.sessions.write(rows.map((s) => (s.id === id ? { ...s, lastSeen } : s)));
      return true;
    });
  }

  deleteSession(id: string): Promise<boolean> {
    return this.dropSessions((s) => s.id === id).then((n) => n > 0);
  }

  deleteSessionsOf(user: string): Promise<number> {
    return this.dropSessions((s) => s.user === user);
  }

  pruneSessions(idleBefore: Date, createdBefore: Date): Promise<number> {
    return this.dropSessions((s) => s.lastSeen < idleBefore || s.createdAt < createdBefore);
  }

  async getLoginCounters(keys: readonly string[]): Promise<Map<string, LoginCounter>> {
    const out = new Map<string, LoginCounter>();
    for (const c of await this.counters.read()) if (keys.includes(c.key)) out.set(c.key, { failures: c.failures, ...(c.lockedUntil ? { lockedUntil: c.lockedUntil } : {}) });
    return out;
  }

  updateLoginCounters(keys: readonly string[], change: (current: Map<string, LoginCounter>) => Map<string, LoginCounter | undefined>): Promise<void> {
    return this.locked(async () => {
      const rows = await this.counters.read();
      const next = change(await this.getLoginCounters(keys));
      const kept = rows.filter((c) => !keys.includes(c.key));
      for (const key of new Set(keys)) {
        const c = next.get(key);
        if (c && (c.failures.length > 0 || c.lockedUntil)) kept.push({ key, failures: c.failures, ...(c.lockedUntil ? { lockedUntil: c.lockedUntil } : {}) });
      }
      if (kept.length > MAX_COUNTERS) kept.sort((a, b) => lastOf(b) - lastOf(a)).length = MAX_COUNTERS;
      await this.counters.write(kept);
    });
  }

  pruneLoginCounters(failuresBefore: Date, lockedBefore: Date): Promise<number> {
    return this.locked(async () => {
      const rows = await this.counters.read();
      const kept = rows.filter((c) => c.failures.some((t) => t >= failuresBefore) || (c.lockedUntil !== undefined && c.lockedUntil >= lockedBefore));
      if (kept.length !== rows.length) await this.counters.write(kept);
      return rows.length - kept.length;
    });
  }

  private dropSessions(drop: (s: ConsoleSession) => boolean): Promise<number> {
    return this.locked(async () => {
      const rows = await this.sessions.read();
      const kept = rows.filter((s) => !drop(s));
      if (kept.length !== rows.length) await this.sessions.write(kept);
      return rows.length - kept.length;
    });
  }
}
