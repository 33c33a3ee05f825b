/**
 * Console users and their sessions: what the store keeps so that several servers on one
 * PostgreSQL share them (a login on one is a session on all). Passwords are kept only as
 * scrypt hashes (passwords.ts); sessions only by the SHA-256 of their token, so reading the
 * store does not hand out live sessions.
 */
import { CaError } from "../errors.js";

export const CONSOLE_ROLES = ["viewer", "operator", "admin"] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

export interface ConsoleUser {
  readonly name: string;
  readonly role: ConsoleRole;
  /** `scrypt$N$r$p$salt$hash` (passwords.ts). */
  readonly passwordHash: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ConsoleSession {
  /** SHA-256 (hex) of the token held by the browser's cookie. */
  readonly id: string;
  readonly user: string;
  /** The token the page sends back in a header on every change (CSRF). */
  readonly csrf: string;
  readonly createdAt: Date;
  readonly lastSeen: Date;
  /** The peer address that logged in. */
  readonly from: string;
}

/** Failed logins counted against one key ("user:NAME" or "address:ADDR"), and its lock. */
export interface LoginCounter {
  /** Failures within the window, oldest first. */
  readonly failures: readonly Date[];
  readonly lockedUntil?: Date;
}

/** The store's part for the console (src/ca/store.ts's CaStore extends it). */
export interface AccountStore {
  /** Creates a user; StoreConflictError when the name is taken. */
  createUser(user: ConsoleUser): Promise<void>;
  /** Replaces an existing user's role and password hash; false when there is no such user. */
  updateUser(user: ConsoleUser): Promise<boolean>;
  getUser(name: string): Promise<ConsoleUser | undefined>;
  /** Every user, by name. */
  listUsers(): Promise<ConsoleUser[]>;
  /** Deletes the user and every session of theirs; false when there was no such user. */
  deleteUser(name: string): Promise<boolean>;

  putSession(session: ConsoleSession): Promise<void>;
  getSession(id: string): Promise<ConsoleSession | undefined>;
  /** Moves lastSeen forward (never back); false when the session is gone. */
  touchSession(id: string, lastSeen: Date): Promise<boolean>;
  deleteSession(id: string): Promise<boolean>;
  /** Ends every session of a user (a password change); returns how many. */
  deleteSessionsOf(user: string): Promise<number>;
  /** Forgets sessions last seen before `idleBefore` or created before `createdBefore`; returns how many. */
  pruneSessions(idleBefore: Date, createdBefore: Date): Promise<number>;

  /** The login counters of `keys` (those that exist). */
  getLoginCounters(keys: readonly string[]): Promise<Map<string, LoginCounter>>;
  /**
   * Replaces the counters of `keys` with what `change` makes of the current ones (a key it
   * maps to undefined, or leaves out, is deleted), atomically across every process sharing
   * the store: two servers counting a failure at once both count. `change` may run more
   * than once (a retried transaction) and must not have other effects.
   */
  updateLoginCounters(keys: readonly string[], change: (current: Map<string, LoginCounter>) => Map<string, LoginCounter | undefined>): Promise<void>;
  /** Forgets counters whose failures all came before `failuresBefore` and whose lock, if any, ended before `lockedBefore`; returns how many. */
  pruneLoginCounters(failuresBefore: Date, lockedBefore: Date): Promise<number>;
}

const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Console user names: lower case letters, digits, '.', '_', '-', up to 64 characters. */
export function validateUserName(name: string): string {
  if (!USER_NAME.test(name)) {
    throw new CaError("invalid-name", `Console user names are 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit; ${JSON.stringify(name)} is not one.`);
  }
  return name;
}

export function parseRole(text: string): ConsoleRole {
  if ((CONSOLE_ROLES as readonly string[]).includes(text)) return text as ConsoleRole;
  throw new CaError("invalid-request", `The role must be one of ${CONSOLE_ROLES.join(", ")}, not ${JSON.stringify(text)}.`);
}

/** A session id is a SHA-256 in hex; anything else never reaches a store. */
export const isSessionId = (id: string): boolean => /^[0-9a-f]{64}$/.test(id);
