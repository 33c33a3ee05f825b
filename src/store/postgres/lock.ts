/**
 * The CA's exclusive lock over PostgreSQL: a session advisory lock held on a dedicated
 * connection (other processes, other hosts), behind an in-process queue (this process).
 *
 * Why a session lock on its own connection rather than pg_advisory_xact_lock: the work done
 * under the lock (a CRL signature, several statements) runs on the pool's other connections
 * and may take a while; a transaction held open around it would sit "idle in transaction",
 * which DBAs often cap. Why the queue as well: without it each waiting caller in this
 * process would take a pool connection just to block on the same lock.
 *
 * What PostgreSQL gives us over a lock file: a holder that dies (crash, kill -9, lost host)
 * loses its connection and the server releases the lock, so there is no stale lock to break.
 * The flip side: if the lock's connection drops while fn runs, another server may enter
 * before fn ends. That is reported after the fact (the error below) and is as rare as a
 * database failover during a revoke.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Pool, PoolClient } from "pg";

/** pg_advisory_lock key for the CA lock: "fleetca" + 0x01. */
const CA_LOCK_KEY = "7380385375772172545";
const LOCK_NOT_AVAILABLE = "55P03";

/** A FIFO async mutex: callers queue instead of polling. */
class AsyncMutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    // The next caller waits for this one to settle, whether it succeeded or not.
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class AdvisoryLock {
  private readonly queue = new AsyncMutex();
  private readonly held = new AsyncLocalStorage<boolean>();

  /**
   * @param pool whose connections are opened with lock_timeout = timeoutMs, so a wait for a
   *   holder that hangs ends with an error instead of forever.
   */
  constructor(
    private readonly pool: Pool,
    private readonly location: string,
    private readonly timeoutMs: number,
  ) {}

  /** True inside fn of run(), in this async call chain. */
  isHeld(): boolean {
    return this.held.getStore() === true;
  }

  /** Not re-entrant: calling run again from inside fn throws rather than deadlocking. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.isHeld()) throw new Error("withLock is not re-entrant: this call chain already holds the CA lock");
    return this.queue.run(async () => {
      const client = await this.pool.connect();
      let lost: Error | undefined;
      const onError = (e: Error) => (lost = e);
      client.on("error", onError);
      try {
        await this.acquire(client);
      } catch (e) {
        client.off("error", onError);
        client.release(e as Error);
        throw e;
      }
      let result: T;
      try {
        result = await this.held.run(true, fn);
      } finally {
        await this.release(client, onError, lost);
      }
      if (lost) {
        // lockLost: the store reports it as unavailable (a 503 the client retries), as the database went away.
        throw Object.assign(
          new Error(
            `The connection holding the CA lock on ${this.location} failed while the lock was held (${lost.message}); ` +
              `another CA server may have worked at the same time. Check the last serials and the CRL.`,
          ),
          { lockLost: true },
        );
      }
      return result;
    });
  }

  private async acquire(client: PoolClient): Promise<void> {
    try {
      await client.query("SELECT pg_advisory_lock($1::bigint)", [CA_LOCK_KEY]);
    } catch (e) {
      if ((e as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw e;
      throw new Error(
        `Timed out after ${Math.round(this.timeoutMs / 1000)}s waiting for the CA lock on ${this.location}` +
          `${await this.holder()}. Another fleetca is working on this CA; if it hangs, end its session ` +
          `(SELECT pg_terminate_backend(<pid>)) and retry.`,
      );
    }
  }

  private async release(client: PoolClient, onError: (e: Error) => void, lost: Error | undefined): Promise<void> {
    client.off("error", onError);
    if (lost) {
      client.release(lost);
      return;
    }
    try {
      await client.query("SELECT pg_advisory_unlock($1::bigint)", [CA_LOCK_KEY]);
      client.release();
    } catch (e) {
      // Closing the connection releases a session lock too.
      client.release(e as Error);
    }
  }

  /** " (held by pid N, application …, from …)" for the timeout message, or "" if unknown. */
  private async holder(): Promise<string> {
    try {
      const key = BigInt(CA_LOCK_KEY);
      const { rows } = await this.pool.query<{ pid: number; app: string | null; addr: string | null; since: Date | null }>(
        `SELECT a.pid, a.application_name AS app, host(a.client_addr) AS addr, a.backend_start AS since
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 1`,
        [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
      );
      const h = rows[0];
      if (!h) return "";
      return ` (held by backend pid ${h.pid}, application "${h.app ?? "?"}" from ${h.addr ?? "a local socket"}, connected since ${h.since?.toISOString() ?? "?"})`;
    } catch {
      return "";
    }
  }
}
