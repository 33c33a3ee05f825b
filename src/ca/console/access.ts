/**
 * Who may use the console: users (added, given a new password, deleted), logins (scrypt,
 * throttled per user and per address) and sessions (idle and absolute timeouts, logout).
 * Every change and every refused or locked login is audited through the store, with the
 * name and address of whoever made it. Transport-free: the console plugin hands it names,
 * passwords, tokens and addresses, and turns its answers into cookies.
 */
import { createHash, randomBytes } from "node:crypto";
import { auditRecord, type AuditAction } from "../audit.js";
import { CaError } from "../errors.js";
import { anonymous, sessionPrincipal, type Principal } from "../principal.js";
import type { CaStore } from "../store.js";
import { isSessionId, validateUserName, type ConsoleRole, type ConsoleSession, type ConsoleUser } from "./accounts.js";
import { checkPasswordStrength, DUMMY_HASH, hashPassword, verifyPassword } from "./passwords.js";
import { DEFAULT_THROTTLE, LoginThrottle, type ThrottlePolicy } from "./throttle.js";

export interface SessionPolicy {
  /** A session unused this long ends. */
  idleSeconds: number;
  /** A session ends this long after login, used or not. */
  absoluteSeconds: number;
}

export const DEFAULT_SESSIONS: SessionPolicy = Object.freeze({ idleSeconds: 30 * 60, absoluteSeconds: 12 * 3600 });

/** lastSeen is written at most this often per session: a page polling every few seconds must not write every time. */
const TOUCH_EVERY_MS = 60_000;
/** How often logins also prune expired sessions and stale login counters. */
const PRUNE_EVERY_MS = 3600_000;

/** A login refused: wrong name or password ("unauthenticated"), or a lock in force ("locked-out"). */
export class LoginError extends Error {
  constructor(
    readonly kind: "unauthenticated" | "locked-out",
    message: string,
    /** For a lock: when it ends. */
    readonly until?: Date,
  ) {
    super(message);
    this.name = "LoginError";
  }
}

export interface LiveSession {
  session: ConsoleSession;
  user: ConsoleUser;
  principal: Principal;
}

export const sessionIdOf = (token: string): string => createHash("sha256").update(token).digest("hex");

export class ConsoleAccess {
  private readonly throttle: LoginThrottle;
  private lastPrune = 0;
  readonly sessions: SessionPolicy;

  constructor(
    private readonly store: CaStore,
    private readonly clock: () => Date = () => new Date(),
    opts: { sessions?: SessionPolicy; throttle?: ThrottlePolicy } = {},
  ) {
    this.sessions = opts.sessions ?? DEFAULT_SESSIONS;
    this.throttle = new LoginThrottle(opts.throttle ?? DEFAULT_THROTTLE);
  }

  private audit(action: AuditAction, by: Principal, what: Parameters<typeof auditRecord>[3] = {}): Promise<void> {
    return this.store.appendAudit([auditRecord(this.clock(), action, by, what)]);
  }

  // ------------------------------------------------------------------ users

  async addUser(name: string, role: ConsoleRole, password: string, by: Principal): Promise<ConsoleUser> {
    validateUserName(name);
    checkPasswordStrength(password);
    const now = this.clock();
    const user: ConsoleUser = { name, role, passwordHash: await hashPassword(password), createdAt: now, updatedAt: now };
    try {
      await this.store.createUser(user);
    } catch (e) {
      if ((e as Error).name === "StoreConflictError") throw new CaError("conflict", `The console user ${name} exists already; use \`fleetca console passwd ${name}\` to change the password, or \`deluser\` first.`);
      throw e;
    }
    await this.audit("user-added", by, { detail: `user ${name}, role ${role}` });
    return user;
  }

  /** A new password (and optionally role); the user's sessions end. */
  async changeUser(name: string, change: { password?: string; role?: ConsoleRole }, by: Principal): Promise<ConsoleUser> {
    validateUserName(name);
    const old = await this.store.getUser(name);
    if (!old) throw new CaError("not-found", `There is no console user ${name}; \`fleetca console users\` lists them.`);
    if (change.password !== undefined) checkPasswordStrength(change.password);
    const user: ConsoleUser = {
      ...old,
      role: change.role ?? old.role,
      passwordHash: change.password !== undefined ? await hashPassword(change.password) : old.passwordHash,
      updatedAt: this.clock(),
    };
    if (!(await this.store.updateUser(user))) throw new CaError("not-found", `The console user ${name} was deleted meanwhile.`);
    await this.store.deleteSessionsOf(name);
    const what = [change.password !== undefined ? "new password" : "", change.role ? `role ${change.role}` : ""].filter(Boolean).join(", ");
    await this.audit("user-changed", by, { detail: `user ${name}: ${what}` });
    return user;
  }

  async deleteUser(name: string, by: Principal): Promise<void> {
    validateUserName(name);
    if (!(await this.store.deleteUser(name))) throw new CaError("not-found", `There is no console user ${name}; \`fleetca console users\` lists them.`);
    await this.audit("user-deleted", by, { detail: `user ${name}` });
  }

  listUsers(): Promise<ConsoleUser[]> {
    return this.store.listUsers();
  }

  // ------------------------------------------------------------------ sessions

  /** Checks the password and opens a session; the token goes in the cookie, and only its hash in the store. */
  async login(name: string, password: string, from: string): Promise<{ token: string; live: LiveSession }> {
    const now = this.clock();
    // Sessions and login counters nobody needs any more go now and then, with the logins that make them.
    if (now.getTime() - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = now.getTime();
      void this.prune().catch(() => undefined);
    }
    const keys = [`user:${name}`, `address:${from}`];
    const who = anonymous(from);
    const counters = await this.store.getLoginCounters(keys);
    const until = this.throttle.lockedUntil(counters, now);
    if (until !== undefined) {
      await this.audit("login", who, { outcome: "refused", reason: `locked out until ${until.toISOString()}`, detail: `user ${safeLabel(name)}` });
      throw new LoginError("locked-out", `Too many failed logins for this user or from this address: logins are refused until ${until.toISOString()}. Wait, or ask an admin to check the audit log.`, until);
    }
    const user = USER_OK(name) ? await this.store.getUser(name) : undefined;
    // Hash even for an unknown user, so the answer's timing does not tell which names exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok) {
      let newlyLocked: string[] = [];
      await this.store.updateLoginCounters(keys, (current) => {
        const { next, locked } = this.throttle.fail(current, keys, now);
        newlyLocked = locked;
        return next;
      });
      await this.audit("login", who, { outcome: "refused", reason: "wrong user name or password", detail: `user ${safeLabel(name)}` });
      for (const key of newlyLocked) {
        await this.audit("login-locked", who, { outcome: "refused", reason: `too many failed logins for ${key}`, detail: `user ${safeLabel(name)}` });
      }
      throw new LoginError("unauthenticated", "Wrong user name or password.");
    }
    const userKey = `user:${name}`;
    if (this.throttle.clears(counters.get(userKey), now)) {
      await this.store.updateLoginCounters([userKey], (current) => new Map([[userKey, this.throttle.clears(current.get(userKey), now) ? undefined : current.get(userKey)]]));
    }
    const token = randomBytes(32).toString("base64url");
    const session: ConsoleSession = { id: sessionIdOf(token), user: name, csrf: randomBytes(24).toString("base64url"), createdAt: now, lastSeen: now, from };
    await this.store.putSession(session);
    const principal = sessionPrincipal(name, user.role, from);
    await this.audit("login", principal);
    return { token, live: { session, user, principal } };
  }

  /** The live session of a token, or undefined (unknown, idle too long, too old, or its user gone). */
  async resolve(token: string, from: string): Promise<LiveSession | undefined> {
    const id = sessionIdOf(token);
    if (!isSessionId(id)) return undefined;
    const session = await this.store.getSession(id);
    if (!session) return undefined;
    const now = this.clock().getTime();
    if (now - session.lastSeen.getTime() > this.sessions.idleSeconds * 1000 || now - session.createdAt.getTime() > this.sessions.absoluteSeconds * 1000) {
      await this.store.deleteSession(id);
      return undefined;
    }
    const user = await this.store.getUser(session.user);
    if (!user) return undefined;
    if (now - session.lastSeen.getTime() > TOUCH_EVERY_MS) await this.store.touchSession(id, new Date(now));
    return { session, user, principal: sessionPrincipal(user.name, user.role, from) };
  }

  async logout(token: string, by: Principal): Promise<boolean> {
    const gone = await this.store.deleteSession(sessionIdOf(token));
    if (gone) await this.audit("logout", by);
    return gone;
  }

  /** Drops expired sessions and login counters with nothing left to count (the server calls it now and then). */
  async prune(): Promise<number> {
    const now = this.clock();
    const ms = now.getTime();
    await this.store.pruneLoginCounters(new Date(ms - this.throttle.policy.windowSeconds * 1000), now);
    return this.store.pruneSessions(new Date(ms - this.sessions.idleSeconds * 1000), new Date(ms - this.sessions.absoluteSeconds * 1000));
  }
}

const USER_OK = (name: string): boolean => {
  try {
    validateUserName(name);
    return true;
  } catch {
    return false;
  }
};

/** A user name as typed at the login form, safe for the audit log (it may be anything). */
const safeLabel = (name: string): string => (USER_OK(name) ? name : JSON.stringify(name.slice(0, 64)));
