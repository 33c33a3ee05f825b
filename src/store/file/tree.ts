/**
 * A directory as archive items and back: every file and subdirectory with its mode, and a
 * replacement that is all or nothing. Used by the file store (its CA directory) and by the
 * CLI for the server's ssldir, which belongs to the host, not to any store.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from "node:fs";
import { chmod, mkdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join, sep } from "node:path";
import type { ArchiveItem } from "../../ca/store.js";
import { fsyncDir, isErrno, TEMP_PREFIX } from "./atomic.js";

/** Files never archived: the lock (held by whoever runs the export) and writers' temporary files. */
function skipped(name: string): boolean {
  return name === ".fleetca.lock" || name.startsWith(TEMP_PREFIX);
}

/**
 * Every directory and file under `dir` (paths relative to it, "." for `dir` itself), in a
 * fixed order, read one file at a time so memory stays bounded. Symbolic links and other
 * special files are refused: an archive that silently lacked them would not restore the CA.
 */
export async function* exportTree(dir: string): AsyncGenerator<ArchiveItem> {
  const root = statSync(dir);
  yield { path: ".", type: "dir", mode: root.mode & 0o7777, data: new Uint8Array() };
  const walk = function* (rel: string): Generator<ArchiveItem> {
    const abs = rel === "." ? dir : join(dir, rel);
    const names = readdirSync(abs).filter((n) => !skipped(n)).sort();
    const subdirs: string[] = [];
    for (const name of names) {
      const relPath = rel === "." ? name : `${rel}/${name}`;
      const st = statSync(join(abs, name), { throwIfNoEntry: false });
      if (!st) continue; // removed while we walked (a pending request signed)
      if (st.isDirectory()) {
        subdirs.push(relPath);
        yield { path: relPath, type: "dir", mode: st.mode & 0o7777, data: new Uint8Array() };
      } else if (st.isFile()) {
        const data = readKnownSize(join(abs, name), st.size);
        if (data) yield { path: relPath, type: "file", mode: st.mode & 0o7777, data };
      } else {
        throw new Error(`Cannot archive ${join(abs, name)}: it is neither a file nor a directory. Move it out of ${dir} and try again.`);
      }
    }
    for (const s of subdirs) yield* walk(s);
  };
  yield* walk(".");
}

/**
 * A file whose size stat just gave: open, one read, close (readFileSync would fstat it
 * again; a 100,000-certificate backup is mostly these system calls). Undefined when it was
 * removed meanwhile; read whole even if it grew.
 */
function readKnownSize(path: string, size: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    if (isErrno(e, "ENOENT")) return undefined;
    throw e;
  }
  try {
    const buf = Buffer.allocUnsafe(size + 1);
    let n = 0;
    for (let r = -1; r !== 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, n);
    // One byte more than stat said came back: it grew while we walked; read it as it is now.
    return n <= size ? buf.subarray(0, n) : readFileSync(path);
  } finally {
    closeSync(fd);
  }
}

/** Refuses paths that would leave the directory being restored. */
function safeRelative(path: string): string {
  if (path === ".") return path;
  const parts = path.split("/");
  if (path.startsWith("/") || path.includes("\\") || path.includes("\0") || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new Error(`The archive holds an unsafe path ${JSON.stringify(path)}; it was not written by fleetca or was altered.`);
  }
  return path;
}

const stamp = () => new Date().toISOString().replace(/[:.]/g, "");

/**
 * Writes `items` into a new directory beside `dir`, durably, then puts it in place of `dir`
 * (the old one moved aside, then removed). If reading the items fails, the new directory is
 * removed and `dir` is untouched. A crash between the two renames leaves `dir` missing and
 * both `<dir>.restore-*` and `<dir>.replaced-*` beside it: rename the first to `dir`.
 */
export async function importTree(dir: string, items: AsyncIterable<ArchiveItem>): Promise<{ files: number }> {
  const staging = join(dirname(dir), `${basename(dir)}.restore-${stamp()}`);
  await mkdir(staging, { mode: 0o700 });
  let files = 0;
  let rootMode: number | undefined;
  const dirs: { path: string; mode: number }[] = [];
  try {
    for await (const item of items) {
      const rel = safeRelative(item.path);
      const target = rel === "." ? staging : join(staging, ...rel.split("/"));
      if (item.type === "dir") {
        if (rel === ".") rootMode = item.mode;
        else {
          await mkdir(target, { recursive: true, mode: 0o700 });
          dirs.push({ path: target, mode: item.mode });
        }
        continue;
      }
      const fd = openSync(target, "wx", 0o600);
      try {
        let off = 0;
        while (off < item.data.length) off += writeSync(fd, item.data, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      await chmod(target, item.mode);
      files++;
    }
    // Modes last: a directory restored read-only must still take the files written into it.
    for (const d of dirs.reverse()) {
      await chmod(d.path, d.mode);
      await fsyncDir(d.path);
    }
    if (rootMode !== undefined) await chmod(staging, rootMode);
    await fsyncDir(staging);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
  const aside = join(dirname(dir), `${basename(dir)}.replaced-${stamp()}`);
  let moved = false;
  try {
    await rename(dir, aside);
    moved = true;
  } catch (e) {
    if (!isErrno(e, "ENOENT")) throw e;
  }
  await rename(staging, dir);
  await fsyncDir(dirname(dir));
  if (moved) await rm(aside, { recursive: true, force: true });
  return { files };
}

/** True when `path` is inside `dir` (for refusing an archive written into what it archives). */
export function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}
