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
import { closeSync, constants, fstatSync, futimes, futimesSync, openSync, statSync, unlinkSync, watch, writeFileSync, writeSync, type FSWatcher } from "node:fs";
import { link, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname } from "node:path";
import { isErrno } from "./atomic.js";

export interface LockOptions {
  /** How long to wait for another holder before giving up. */
  timeoutMs?: number;
  /** A lock whose heartbeat stopped this long ago is considered abandoned. */
  staleMs?: number;
  /** The longest wait between two tries when no release is seen (the first is 5 ms, doubling). */
  maxRetryMs?: number;
  firstRetryMs?: number;
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

const STALE_CHECK_MS = 250;

/** Lets go of the lock; othersWaiting says whether another process asked for it meanwhile. */
export type LockRelease = (() => Promise<void>) & { othersWaiting(): boolean };

/** Cross-process lock on one path; acquire() resolves to the release function. */
export class FileLock {
  private readonly timeoutMs: number;
  private readonly staleMs: number;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;

  constructor(
    readonly path: string,
    opts: LockOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.staleMs = opts.staleMs ?? 3 * 60_000;
    this.firstRetryMs = opts.firstRetryMs ?? 5;
    this.maxRetryMs = opts.maxRetryMs ?? 200;
  }

  async acquire(): Promise<LockRelease> {
    const deadline = Date.now() + this.timeoutMs;
    let delay = this.firstRetryMs;
    let released: ReleaseWatch | undefined;
    let inspected = 0;
    try {
      for (;;) {
        // Whether the holder died is read from its file at most every STALE_CHECK_MS: a waiter
        // woken at every release and retake would otherwise read it each time.
        const checkStale = Date.now() - inspected >= STALE_CHECK_MS;
        if (checkStale) inspected = Date.now();
        const release = await this.tryAcquire(checkStale);
        if (release) return release;
        this.signalWaiting();
        if (Date.now() >= deadline) throw new Error(await this.timeoutMessage());
        // Woken when the holder removes the lock file (another server on this CA, another
        // worker of this one): sleeping out a backoff after each release kept two processes
        // on one CA waiting more than working. Watched from the first miss, then one more try
        // at once, so a release between the two is not slept through.
        if (!released) {
          released = watchRelease(this.path);
          continue;
        }
        // The backoff stays as the bound (a filesystem without change events, a missed one);
        // jitter so that two waiters woken together do not collide again.
        await released.next(Math.min(delay, Math.max(1, deadline - Date.now())) * (0.5 + Math.random()));
        delay = Math.min(delay * 2, this.maxRetryMs);
      }
    } finally {
      released?.close();
    }
  }

  /**
   * One attempt: the release function, or undefined if someone else holds the lock.
   * The file calls are synchronous (microseconds on a local disk): taking and releasing
   * the lock sits on the path of every batch of signatures, and as promises each step
   * waited for a turn of the server's busy event loop (see atomic.ts).
   */
  async tryAcquire(checkStale = true): Promise<LockRelease | undefined> {
    const token = randomBytes(8).toString("hex");
    let fd: number;
    try {
      fd = openSync(this.path, "wx", 0o644);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      if (checkStale) await this.breakIfStale();
      return undefined;
    }
    const holder: Holder = { pid: process.pid, hostname: hostname(), acquiredAt: new Date().toISOString(), token };
    let ino: number;
    let size: number;
    try {
      writeFileSync(fd, `${JSON.stringify(holder)}\n`);
      ({ ino, size } = fstatSync(fd));
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
    const release = async () => {
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
    // A waiter appends a newline to the file (signalWaiting): the file grew.
    const othersWaiting = () => {
      try {
        return fstatSync(fd).size !== size;
      } catch {
        return false; // released
      }
    };
    return Object.assign(release, { othersWaiting });
  }

  /**
   * Tells the holder that someone waits (it then lets go after its current batch instead of
   * keeping the lock for its next ones): a newline appended to the lock file, which the
   * holder's JSON tolerates. Without O_CREAT: a lock released meanwhile is not re-made.
   */
  private signalWaiting(): void {
    try {
      const fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND);
      try {
        const { atime, mtime } = fstatSync(fd);
        writeSync(fd, "\n");
        // The mtime is the holder's heartbeat (isStale): a waiter must not keep a dead holder's lock fresh.
        futimesSync(fd, atime, mtime);
      } finally {
        closeSync(fd);
      }
    } catch {
      // Gone already (released), or not ours to write: the next try tells.
    }
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

interface ReleaseWatch {
  /** Resolves when the lock file goes, or after `ms`. */
  next(ms: number): Promise<void>;
  close(): void;
}

/** Change events for the lock file's directory (inotify on Linux); plain sleeps where there are none. */
function watchRelease(path: string): ReleaseWatch {
  const file = basename(path);
  let wake: (() => void) | undefined;
  let removed = false;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, (event, name) => {
      if (event !== "rename" || (name !== null && name !== file)) return;
      removed = true;
      wake?.();
    });
    // Out of watches (fs.inotify.max_user_watches), or the directory went: sleep instead.
    watcher.on("error", () => undefined);
  } catch {
    watcher = undefined;
  }
  return {
    next: (ms) =>
      new Promise<void>((resolve) => {
        if (removed) {
          removed = false;
          return resolve();
        }
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          wake = undefined;
          removed = false;
          resolve();
        }
        wake = done;
      }),
    close: () => watcher?.close(),
  };
}

