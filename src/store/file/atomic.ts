/**
 * Crash-safe file writes for the CA directory.
 *
 * A reader (Puppet's own tools, another fleetca process, this process after a power cut)
 * must only ever see the old or the new content of a file, never a prefix: so every
 * replacement goes through a temporary file in the same directory (rename(2) is atomic
 * only within one filesystem), is fsynced before the rename (or the rename can reach the
 * disk before the data), and the directory is fsynced after it (or the rename itself can
 * be lost).
 */
import { randomBytes } from "node:crypto";
import {
  closeSync, constants, fchmodSync, fchownSync, fdatasync as fdatasyncCb, fstatSync, fsync as fsyncCb, ftruncateSync, linkSync, openSync, readFileSync, readSync, renameSync,
  statSync, unlinkSync, writeSync, type Stats,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Why synchronous calls with only the fsync asynchronous: these writes run inside the
 * store's critical sections (the CA lock, the index mutex), where every awaited step
 * waits for a turn of an event loop that, in the server, is busy with TLS and HTTP. An
 * open, write, rename or close of a small file on a local disk takes microseconds
 * synchronously; as promises each one cost a thread-pool round trip and a loop turn, and
 * ten of them per file made the critical sections, not the signatures, the server's
 * limit. The fsync (~1 ms, far longer on a busy disk) stays on the thread pool.
 */
function fsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsyncCb(fd, (err) => (err ? reject(err) : resolve())));
}

function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let done = 0;
  while (done < buf.length) {
    // A short write on a regular file means a full disk or a signal; finish rather than
    // leave a torn line or file that the next writer would build on.
    done += writeSync(fd, buf, done, buf.length - done);
  }
}

/** Temporary files start with this, so directory scans can tell them from Puppet's files. */
export const TEMP_PREFIX = ".fleetca-tmp-";

/** The longest file name most Linux filesystems take (NAME_MAX), in bytes. */
const NAME_MAX = 255;

/**
 * The temporary name for `path`: the prefix, as much of the final name as fits, the writer's
 * pid (so recovery can tell a dead writer's leftovers from a live one's, recover.ts) and a
 * random part. A certname may be 253 characters, so `<name>.pem` alone nearly fills NAME_MAX:
 * the kept part of the name is cut to fit, the pid and random part always survive.
 */
export function tempNameFor(path: string, pid = PID, random = randomHex12()): string {
  const tail = `.${pid}.${random}`;
  const room = NAME_MAX - Buffer.byteLength(TEMP_PREFIX) - Buffer.byteLength(tail);
  let kept = basename(path);
  // Certnames are ASCII; the loop only matters for other callers' non-ASCII names.
  while (Buffer.byteLength(kept) > room) kept = kept.slice(0, -1);
  return `${TEMP_PREFIX}${kept}${tail}`;
}

/** process.pid is a system call per read; a Node process keeps its pid. */
const PID = process.pid;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * 12 random hex digits, from 6 bytes of a pool filled 4 kB at a time: a signing batch names a
 * temporary file per certificate, and a randomBytes call each cost more than the name's other work.
 */
function randomHex12(): string {
  if (poolAt + 6 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  poolAt += 6;
  return pool.toString("hex", poolAt - 6, poolAt);
}

/** The pid written into a temporary name by tempNameFor, or undefined for a name it did not make. */
export function tempWriterPid(file: string): number | undefined {
  if (!file.startsWith(TEMP_PREFIX)) return undefined;
  const m = /\.(\d+)\.[0-9a-f]{12}$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/**
 * Replaces `path` with `data`, with exactly `mode` (not filtered by the umask: Puppet's
 * tools rely on ca_crt.pem being world-readable whatever the operator's umask).
 * Returns the stats of the new file (rename keeps size and mtime), so callers can
 * remember what they wrote without another stat.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number, opts: { syncDir?: boolean; sync?: boolean } = {}): Promise<Stats> {
  // A caller writing many files into one directory passes syncDir: false and fsyncs it once.
  // sync: false (no fsync at all, still whole or absent for readers): for files rebuilt from
  // the commit journal after a crash (commit-journal.ts), whose durability is the journal's.
  if (opts.sync === false) return replaceUnsynced(path, data, mode);
  return replaceViaTemp(path, mode, opts.syncDir !== false, async (fd) => writeAll(fd, data));
}

/** The temporary file and rename of replaceViaTemp without its fsyncs, all synchronous (microseconds). */
function replaceUnsynced(path: string, data: string | Uint8Array, mode: number): Stats {
  const tmp = join(dirname(path), tempNameFor(path));
  const fd = openSync(tmp, "wx", mode);
  let stats: Stats;
  try {
    keepOwnerAndMode(fd, path, mode);
    writeAll(fd, data);
    stats = fstatSync(fd);
    closeSync(fd);
  } catch (err) {
    closeQuietly(fd);
    unlinkQuietly(tmp);
    throw err;
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkQuietly(tmp);
    throw err;
  }
  return stats;
}

/**
 * A file's inode taken over for another file (takeInode, then fillTaken): a signed certificate
 * and its request, once the commit journal holds both changes. `from` is renamed to a
 * temporary name beside `path`, and after the caller has made the renames durable (one fsync
 * of `from`'s directory for a batch: until then a power cut could bring `from` back holding
 * the new bytes), its inode is rewritten and renamed to `path`. Instead of a new inode made
 * and `from`'s freed: on ext4 without a journal (this VM's disk) every new inode is searched
 * for past each inode freed in the last ~30 seconds (the kernel's `recently_deleted`), and a
 * `sign --all` freeing a request's inode per certificate made each new certificate file's
 * creation walk thousands of them (~0.3 ms per certificate at 2,000, growing with the run).
 * Readers see `from` whole or gone and `path` absent or whole, as with writeFileAtomic.
 */
export type Taken = { tmp: string } | { tmp?: undefined; took: boolean };

/** Step one: `from` moved beside `path` (nothing moved when `path` exists: a replaced file keeps its owner and mode). */
export function takeInode(from: string, path: string): Taken {
  if (statSync(path, { throwIfNoEntry: false })) return { took: unlinkIfThere(from) };
  const tmp = join(dirname(path), tempNameFor(path));
  try {
    renameSync(from, tmp);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return { took: false };
    if (!isErrno(err, "EXDEV")) throw err;
    return { took: unlinkIfThere(from) };
  }
  return { tmp };
}

/**
 * Step two, once the moves are durable: `path` holds `data` with `mode`. The taken inode is
 * rewritten only when it is a plain file with one link whose owner is what a new file would
 * get; otherwise it is removed and a new file written (writeFileAtomic without sync).
 */
export function fillTaken(taken: Taken, path: string, data: string | Uint8Array, mode: number, owner: NewOwner = newOwnerIn(dirname(path))): Stats {
  if (taken.tmp === undefined) return replaceUnsynced(path, data, mode);
  const tmp = taken.tmp;
  let fd: number | undefined;
  try {
    // A symbolic link (ELOOP here) is not followed: what it points at is not the CA's to rewrite.
    fd = openSync(tmp, constants.O_WRONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (!isErrno(err, "ELOOP")) {
      unlinkQuietly(tmp);
      throw err;
    }
  }
  let stats: Stats;
  try {
    const st = fd === undefined ? undefined : fstatSync(fd);
    if (fd === undefined || !st || !st.isFile() || st.nlink !== 1 || st.uid !== owner.uid || st.gid !== owner.gid) {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      unlinkSync(tmp);
      return replaceUnsynced(path, data, mode);
    }
    if ((st.mode & 0o7777) !== mode) fchmodSync(fd, mode);
    // Written over the old bytes, then cut to length: a truncation to zero makes ext4 flush the
    // file's new blocks to the disk when it is closed (auto_da_alloc), an I/O per certificate.
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    writeAllAt(fd, buf, 0);
    if (st.size > buf.length) ftruncateSync(fd, buf.length);
    stats = fstatSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    unlinkQuietly(tmp);
    throw err;
  }
  return stats;
}

/** The owner and group a new file in a directory gets (keepOwnerAndMode); -1 where there are none (no such ids). */
export interface NewOwner {
  uid: number;
  gid: number;
}

/** NewOwner for `dir`: a caller filling many taken inodes in one directory asks once per batch. */
export function newOwnerIn(dir: string): NewOwner {
  if (process.getuid?.() !== 0) return { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };
  const d = statSync(dir);
  return d.uid !== 0 || d.gid !== 0 ? { uid: d.uid, gid: d.gid } : { uid: 0, gid: 0 };
}

/** The text of `path`, or undefined when it is not there. */
export function readTextIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
}

/** Removes `path`; false when it was not there. */
export function unlinkIfThere(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

/**
 * writeFileAtomic for content whose middle is known before its two ends (a CRL before its
 * signature): the middle is written and fdatasynced while `ends` is still being computed,
 * then the ends go in around it, one more fsync (now of a few pages) and the rename. The
 * same guarantees: readers see the old file or the whole new one, never a mix. If `ends`
 * rejects, the temporary file is removed and the error passed on.
 */
export async function writeFileAtomicStaged(
  path: string,
  middle: { offset: number; bytes: Uint8Array },
  ends: Promise<{ before: Uint8Array; after: Uint8Array }>,
  mode: number,
): Promise<Stats> {
  return replaceViaTemp(path, mode, true, async (fd) => {
    writeAllAt(fd, middle.bytes, middle.offset);
    // Both settle before the file is touched again or closed, whichever fails.
    const [synced, got] = await Promise.allSettled([fdatasync(fd), ends]);
    if (got.status === "rejected") throw got.reason;
    if (synced.status === "rejected") throw synced.reason;
    const { before, after } = got.value;
    if (before.length !== middle.offset) {
      throw new Error(`staged write of ${path}: the part before the middle is ${before.length} bytes, expected ${middle.offset}`);
    }
    writeAllAt(fd, before, 0);
    writeAllAt(fd, after, middle.offset + middle.bytes.length);
  });
}

/**
 * The temporary file, `fill`, fsync, rename and (unless told not to) the directory fsync
 * that every replacement goes through. Returns the new file's stats.
 */
async function replaceViaTemp(path: string, mode: number, syncDir: boolean, fill: (fd: number) => Promise<void>): Promise<Stats> {
  const { dir, tmp, stats } = await durableTemp(path, mode, fill);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkQuietly(tmp);
    throw err;
  }
  if (syncDir) await fsyncDir(dir);
  return stats;
}

/**
 * A file being replaced keeps its owner, group and mode: in a Puppet Server CA directory (owned by `puppet`) a
 * fleetca run as root must not leave `serial` or `ca_crl.pem` as root:root. A new file gets `mode`, and, when
 * fleetca runs as root, the owner of its directory. Unprivileged, chown is neither possible nor needed (the
 * files are already the caller's).
 */
function keepOwnerAndMode(fd: number, path: string, mode: number): void {
  // Usually absent (a new certificate): no ENOENT error object built and thrown per file.
  const old: Stats | undefined = statSync(path, { throwIfNoEntry: false });
  fchmodSync(fd, old ? old.mode & 0o7777 : mode);
  if (process.getuid?.() !== 0) return;
  const owner = old ?? statSync(dirname(path));
  if (owner.uid !== 0 || owner.gid !== 0) fchownSync(fd, owner.uid, owner.gid);
}

/** A temporary file beside `path` with exactly `mode`, filled by `fill` and fsynced; removed again if anything fails. */
async function durableTemp(path: string, mode: number, fill: (fd: number) => Promise<void>): Promise<{ dir: string; tmp: string; stats: Stats }> {
  const dir = dirname(path);
  const tmp = join(dir, tempNameFor(path));
  const fd = openSync(tmp, "wx", mode);
  let stats: Stats;
  try {
    keepOwnerAndMode(fd, path, mode);
    await fill(fd);
    await fsync(fd);
    stats = fstatSync(fd);
  } catch (err) {
    closeQuietly(fd);
    unlinkQuietly(tmp);
    throw err;
  }
  closeSync(fd);
  return { dir, tmp, stats };
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasyncCb(fd, (err) => (err ? reject(err) : resolve())));
}

function writeAllAt(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

/**
 * Appends `text` (one or more whole lines) with O_APPEND in a single write, then fsyncs.
 * One write call keeps lines from concurrent writers whole on a local filesystem, which
 * is what the inventory and the index journal rely on. Returns the file's stats right
 * after the write, so a caller can tell from the size whether anyone else appended in between.
 */
export async function appendLine(path: string, text: string, mode = 0o644, opts: { sync?: boolean } = {}): Promise<Stats> {
  const fd = openSync(path, "a", mode);
  try {
    writeAll(fd, text.endsWith("\n") ? text : `${text}\n`);
    // sync: false for appends whose durability is the commit journal's, or a cache's.
    if (opts.sync !== false) await fsync(fd);
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * appendLine for fleetca's own logs (audit.log, the revocation records), where every line
 * is a record to keep: a file created here gets exactly `mode` (not filtered by the
 * umask), and when the file's last line was torn by a crash (no newline at the end)
 * `seal` goes first (a newline, or text that also makes the fragment unreadable as a
 * record, then a newline), so the torn line stays alone, to be skipped by readers, instead
 * of swallowing the start of the first record written after it.
 */
export async function appendLog(path: string, text: string, mode: number, seal = "\n", opts: { sync?: boolean } = {}): Promise<Stats> {
  const fd = openForAppend(path, mode);
  try {
    const st = fstatSync(fd);
    let out = text.endsWith("\n") ? text : `${text}\n`;
    if (st.size > 0) {
      const last = Buffer.alloc(1);
      // With O_APPEND every whole write lands after the last one; only a crash leaves a line open.
      if (readSync(fd, last, 0, 1, st.size - 1) === 1 && last[0] !== 0x0a) out = `${seal}${out}`;
    }
    writeAll(fd, out);
    if (opts.sync !== false) await fsync(fd);
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Opens `path` for appending (and reading its last byte); a file created here gets exactly `mode`. */
function openForAppend(path: string, mode: number): number {
  const { O_APPEND, O_CREAT, O_EXCL, O_RDWR } = constants;
  for (;;) {
    try {
      return openSync(path, O_RDWR | O_APPEND);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    try {
      const fd = openSync(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL, mode);
      fchmodSync(fd, mode);
      return fd;
    } catch (err) {
      // Another writer created it between the two opens: append to theirs.
      if (!isErrno(err, "EEXIST")) throw err;
    }
  }
}

/**
 * Creates `path` with `data`, durably and whole, only if nothing is there yet: the content
 * goes into a temporary file first and is linked into place, so a reader sees no file or
 * the whole one, and a writer that got there first (another process rebuilding the same
 * file, or appending its first record) is never overwritten. Returns the new file's stats,
 * or undefined when `path` already existed.
 */
export async function createFileExclusive(path: string, data: string | Uint8Array, mode: number): Promise<Stats | undefined> {
  const { dir, tmp, stats } = await durableTemp(path, mode, async (fd) => writeAll(fd, data));
  try {
    linkSync(tmp, path);
  } catch (err) {
    const noLinks = isErrno(err, "EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS");
    if (!noLinks || statSync(path, { throwIfNoEntry: false })) {
      unlinkQuietly(tmp);
      if (noLinks || isErrno(err, "EEXIST")) return undefined;
      throw err;
    }
    // A filesystem without hard links: a rename, exclusive only against what was there just now.
    renameSync(tmp, path);
    await fsyncDir(dir);
    return stats;
  }
  unlinkQuietly(tmp);
  await fsyncDir(dir);
  return stats;
}

/** Removes a file durably (unless syncDir: false, for a caller that fsyncs the directory once). Returns false if it did not exist. */
export async function unlinkDurable(path: string, opts: { syncDir?: boolean } = {}): Promise<boolean> {
  try {
    unlinkSync(path);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
  if (opts.syncDir !== false) await fsyncDir(dirname(path));
  return true;
}

/** Makes a rename, creation or unlink in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    await fsync(fd);
  } catch (err) {
    // Some platforms and filesystems cannot fsync a directory; the rename is still atomic there.
    if (!isErrno(err, "EISDIR", "EINVAL", "EPERM", "ENOTSUP")) throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already failing: the first error is the one to report
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // best effort: a leftover temporary file is skipped by directory scans (TEMP_PREFIX)
  }
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === "object" && err !== null && codes.includes((err as { code?: unknown }).code as string);
}
