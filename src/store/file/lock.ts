/**
 * The CA's exclusive lock: a lock file for other processes, a queue for this one.
 *
 * Why a lock file created with O_EXCL rather than flock(2): Node has no flock, and an
 * O_EXCL create works the same on every local filesystem. Its weakness is a holder that
 * dies without removing the file, hence the stale detection: the holder writes its pid
 * and host into the file and touches it every few seconds while it holds it, so a waiter
 * can break the lock when that pid is gone (same host) or the heartbeat stopped.
 *
 * Why an in-process queue as well: without it, two async callers in one process would
 * both spin on the lock file with backoff, and the one that loses waits up to a backoff
 * period after the other finishes instead of starting at once.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, futimes, openSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { link, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { isErrno } from "./atomic.js";

export interface LockOptions {
  /** How long to wait for another holder before giving up. */
  timeoutMs?: number;
  /** A lock whose heartbeat stopped this long ago is considered abandoned. */
  staleMs?: number;
}

interface Holder {
  pid?: number;
  hostname?: string;
  acquiredAt?: string;
  token?: string;
}

/** A FIFO async mutex: callers queue instead of polling. */
export class AsyncMutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    // The next caller waits for this one to settle, whether it succeeded or not.
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Cross-process lock on one path; acquire() resolves to the release function. */
export class FileLock {
  private readonly timeoutMs: number;
  private readonly staleMs: number;

  constructor(
    readonly path: string,
    opts: LockOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.staleMs = opts.staleMs ?? 3 * 60_000;
  }

  async acquire(): Promise<() => Promise<void>> {
    const deadline = Date.now() + this.timeoutMs;
    let delay = 5;
    for (;;) {
      const release = await this.tryAcquire();
      if (release) return release;
      if (Date.now() >= deadline) throw new Error(await this.timeoutMessage());
      // Jitter so that two waiters woken together do not collide again.
      await sleep(Math.min(delay, Math.max(1, deadline - Date.now())) * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 200);
    }
  }

  /**
   * One attempt: the release function, or undefined if someone else holds the lock.
   * The file calls are synchronous (microseconds on a local disk): taking and releasing
   * the lock sits on the path of every batch of signatures, and as promises each step
   * waited for a turn of the server's busy event loop (see atomic.ts).
   */
  async tryAcquire(): Promise<(() => Promise<void>) | undefined> {
    const token = randomBytes(8).toString("hex");
    let fd: number;
    try {
      fd = openSync(this.path, "wx", 0o644);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      await this.breakIfStale();
      return undefined;
    }
    const holder: Holder = { pid: process.pid, hostname: hostname(), acquiredAt: new Date().toISOString(), token };
    let ino: number;
    try {
      writeFileSync(fd, `${JSON.stringify(holder)}\n`);
      ino = fstatSync(fd).ino;
    } catch (err) {
      // Do not leave an anonymous lock behind (a full disk, say): nobody could tell it is stale.
      closeQuietly(fd);
      await unlink(this.path).catch(() => undefined);
      throw err;
    }
    // Touch our own inode (not the path, which may by now be someone else's lock).
    const beat = setInterval(() => {
      const now = new Date();
      futimes(fd, now, now, () => undefined);
    }, Math.max(1000, this.staleMs / 6));
    beat.unref();
    return async () => {
      clearInterval(beat);
      closeQuietly(fd);
      // Only remove the file if it is still ours: a waiter may have judged us stale.
      const current = statSync(this.path, { throwIfNoEntry: false });
      if (current?.ino === ino) {
        try {
          unlinkSync(this.path);
        } catch {
          // gone already: someone judged us stale and moved it aside
        }
      }
    };
  }

  private async breakIfStale(): Promise<void> {
    const seen = await this.inspect();
    if (!seen || !this.isStale(seen.holder, seen.mtimeMs)) return;
    // Move it aside rather than unlink: if two waiters judge the same file stale, only the
    // first rename succeeds, and the second cannot remove a fresh lock created meanwhile.
    const aside = `${this.path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await rename(this.path, aside);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      throw err;
    }
    const moved = await stat(aside).catch(() => undefined);
    if (moved && moved.ino !== seen.ino) {
      // We moved a lock created after our inspection: put it back, unless yet another
      // one has taken its place (link, unlike rename, never replaces).
      await link(aside, this.path).catch(() => undefined);
      await unlink(aside).catch(() => undefined);
      return;
    }
    await unlink(aside).catch(() => undefined);
  }

  private isStale(holder: Holder, mtimeMs: number): boolean {
    if (Date.now() - mtimeMs > this.staleMs) return true;
    if (holder.hostname !== hostname() || typeof holder.pid !== "number") return false;
    if (holder.pid === process.pid) return false;
    return !pidAlive(holder.pid);
  }

  private async inspect(): Promise<{ holder: Holder; mtimeMs: number; ino: number } | undefined> {
    try {
      const st = await stat(this.path);
      const text = await readFile(this.path, "utf8");
      let holder: Holder = {};
      try {
        holder = JSON.parse(text) as Holder;
      } catch {
        // Created but not yet written by its holder: judged by age only.
      }
      return { holder, mtimeMs: st.mtimeMs, ino: st.ino };
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
  }

  private async timeoutMessage(): Promise<string> {
    const seen = await this.inspect().catch(() => undefined);
    const h = seen?.holder;
    const who = h?.pid ? ` (held by pid ${h.pid} on host ${h.hostname ?? "?"} since ${h.acquiredAt ?? "?"})` : "";
    return (
      `Timed out after ${Math.round(this.timeoutMs / 1000)}s waiting for the CA lock ${this.path}${who}. ` +
      `If no fleetca process is working on this CA, delete ${this.path} and retry.`
    );
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return !isErrno(err, "ESRCH");
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closing is best effort on the way out
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
