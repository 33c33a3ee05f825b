/**
 * Login attempts limited per user and per address: after `maxFailures` failures within
 * `windowSeconds`, that key is locked for `lockSeconds`, and every login through it is
 * refused, even with the right password, until the lock ends. Kept in the memory of one
 * server: a guesser spreading attempts over several servers gets each server's allowance,
 * which the per-user limit still keeps small.
 */
export interface ThrottlePolicy {
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = Object.freeze({ maxFailures: 5, windowSeconds: 900, lockSeconds: 900 });

interface Entry {
  failures: number[];
  lockedUntil?: number;
}

/** Entries kept at most; the oldest are dropped first (an address flood must not grow memory without bound). */
const MAX_KEYS = 100_000;

export class LoginThrottle {
  private readonly keys = new Map<string, Entry>();
  constructor(private readonly policy: ThrottlePolicy = DEFAULT_THROTTLE) {}

  /** The time the first locked key unlocks, when any of `keys` is locked. */
  lockedUntil(keys: readonly string[], now: number): number | undefined {
    let until: number | undefined;
    for (const k of keys) {
      const e = this.keys.get(k);
      if (e?.lockedUntil !== undefined && e.lockedUntil > now) until = Math.max(until ?? 0, e.lockedUntil);
    }
    return until;
  }

  /** Counts a failure against each key; returns the keys this failure locked. */
  fail(keys: readonly string[], now: number): string[] {
    const locked: string[] = [];
    const since = now - this.policy.windowSeconds * 1000;
    for (const k of keys) {
      const e = this.keys.get(k) ?? { failures: [] };
      this.keys.delete(k);
      e.failures = e.failures.filter((t) => t > since);
      e.failures.push(now);
      if (e.failures.length >= this.policy.maxFailures && !(e.lockedUntil !== undefined && e.lockedUntil > now)) {
        e.lockedUntil = now + this.policy.lockSeconds * 1000;
        e.failures = [];
        locked.push(k);
      }
      this.keys.set(k, e);
    }
    while (this.keys.size > MAX_KEYS) this.keys.delete(this.keys.keys().next().value!);
    return locked;
  }

  /** A successful login clears the user's failures (not the address's: one good password must not reset a guesser). */
  succeed(key: string): void {
    const e = this.keys.get(key);
    if (e && e.lockedUntil === undefined) this.keys.delete(key);
  }
}
