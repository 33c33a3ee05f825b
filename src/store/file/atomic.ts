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
import type { Stats } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Temporary files start with this, so directory scans can tell them from Puppet's files. */
export const TEMP_PREFIX = ".fleetca-tmp-";

/**
 * Replaces `path` with `data`, with exactly `mode` (not filtered by the umask: Puppet's
 * tools rely on ca_crt.pem being world-readable whatever the operator's umask).
 * Returns the stats of the new file (rename keeps size and mtime), so callers can
 * remember what they wrote without another stat.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<Stats> {
  const dir = dirname(path);
  const tmp = join(dir, `${TEMP_PREFIX}${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}`);
  let stats: Stats;
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
    stats = await fh.stat();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
  return stats;
}

/**
 * Appends `text` (one or more whole lines) with O_APPEND in a single write, then fsyncs.
 * One write call keeps lines from concurrent writers whole on a local filesystem, which
 * is what the inventory and the index journal rely on. Returns the file's stats right
 * after the write, so a caller can tell from the size whether anyone else appended in between.
 */
export async function appendLine(path: string, text: string, mode = 0o644): Promise<Stats> {
  const buf = Buffer.from(text.endsWith("\n") ? text : `${text}\n`, "utf8");
  const fh = await open(path, "a", mode);
  try {
    let done = 0;
    while (done < buf.length) {
      // A short write on a regular file means a full disk or a signal; finish the line
      // rather than leave a torn one that the next appender would glue onto.
      const { bytesWritten } = await fh.write(buf, done, buf.length - done);
      done += bytesWritten;
    }
    await fh.sync();
    return await fh.stat();
  } finally {
    await fh.close();
  }
}

/** Removes a file durably. Returns false if it did not exist. */
export async function unlinkDurable(path: string): Promise<boolean> {
  try {
    await unlink(path);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
  await fsyncDir(dirname(path));
  return true;
}

/** Makes a rename, creation or unlink in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch (err) {
    // Some platforms and filesystems cannot fsync a directory; the rename is still atomic there.
    if (!isErrno(err, "EISDIR", "EINVAL", "EPERM", "ENOTSUP")) throw err;
  } finally {
    await fh?.close();
  }
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === "object" && err !== null && codes.includes((err as { code?: unknown }).code as string);
}
