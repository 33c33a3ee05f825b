/**
 * Login attempts limited per user and per address: after `maxFailures` failures within
 * `windowSeconds`, that key is locked for `lockSeconds`, and every login through it is
 * refused, even with the right password, until the lock ends. The counters are kept by the
 * store (AccountStore's login counters), so servers sharing a PostgreSQL store share them:
 * a guesser spreading attempts over several servers gets one allowance, not one per server,
 * and a lock taken on one server holds on all. The rules are here; the store only keeps the
 * counters and changes them atomically.
 */
import type { LoginCounter } from "./accounts.js";

export interface ThrottlePolicy {
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = Object.freeze({ maxFailures: 5, windowSeconds: 900, lockSeconds: 900 });

export type Counters = ReadonlyMap<string, LoginCounter>;

export class LoginThrottle {
  constructor(readonly policy: ThrottlePolicy = DEFAULT_THROTTLE) {}

  /** The time the last of the locked keys unlocks, when any key is locked now. */
  lockedUntil(counters: Counters, now: Date): Date | undefined {
    let until: Date | undefined;
    for (const c of counters.values()) {
      if (c.lockedUntil && c.lockedUntil > now && (!until || c.lockedUntil > until)) until = c.lockedUntil;
    }
    return until;
  }

  /** A failure counted against each key: the counters to store, and the keys this failure locked. */
  fail(counters: Counters, keys: readonly string[], now: Date): { next: Map<string, LoginCounter>; locked: string[] } {
    const next = new Map<string, LoginCounter>();
    const locked: string[] = [];
    const since = now.getTime() - this.policy.windowSeconds * 1000;
    for (const key of keys) {
      const old = counters.get(key);
      const lockedNow = old?.lockedUntil !== undefined && old.lockedUntil > now;
      let failures = [...(old?.failures ?? []).filter((t) => t.getTime() > since), now];
      let lockedUntil = lockedNow ? old!.lockedUntil : undefined;
      if (failures.length >= this.policy.maxFailures && !lockedNow) {
        lockedUntil = new Date(now.getTime() + this.policy.lockSeconds * 1000);
        failures = [];
        locked.push(key);
      }
      next.set(key, { failures, ...(lockedUntil ? { lockedUntil } : {}) });
    }
    return { next, locked };
  }

  /**
   * After a successful login, whether the user's counter should go: a good password clears
   * the user's failures (not the address's: one good password must not reset a guesser),
   * unless the user is locked.
   */
  clears(counter: LoginCounter | undefined, now: Date): boolean {
    return counter !== undefined && !(counter.lockedUntil && counter.lockedUntil > now);
  }
}
