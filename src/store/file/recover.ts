/**
 * What a crash leaves in the CA directory that no later write cleans up: temporary files
 * (atomic.ts) whose writer died between creating and renaming them. They are invisible to
 * Puppet's tools and to fleetca's scans (TEMP_PREFIX), but they pile up, one per crash,
 * and each may hold a whole CRL. A file is stale only when the pid in its name is no longer
 * running: a live writer's file is about to be renamed and must be left alone.
 */
import { readdirSync, unlinkSync } from "node:fs";
import { opendir } from "node:fs/promises";
import { join } from "node:path";
import { isErrno, TEMP_PREFIX, tempWriterPid } from "./atomic.js";
import type { Layout } from "./layout.js";

export interface StrayFile {
  path: string;
  /** The writer's pid from the name, if it has one. */
  pid?: number;
  /** True when no running process could still be writing it. */
  stale: boolean;
}

/** Every temporary file in the CA directory and its two subdirectories (`dirs`: only those). */
export function findTempFiles(layout: Layout, dirs = [layout.cadir, layout.requests, layout.signed]): StrayFile[] {
  const out: StrayFile[] = [];
  for (const dir of dirs) {
    let files: string[];
    try {
      files = readdirSync(dir);
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR")) continue;
      throw err;
    }
    for (const f of files) {
      if (!f.startsWith(TEMP_PREFIX)) continue;
      const pid = tempWriterPid(f);
      out.push({ path: join(dir, f), pid, stale: pid === undefined || !isRunning(pid) });
    }
  }
  return out;
}

/** Removes the stale temporary files (of `dirs`, default all three); returns their paths. Needs no lock: nobody else can own them. */
export function removeStaleTempFiles(layout: Layout, dirs?: string[]): string[] {
  const removed: string[] = [];
  for (const f of findTempFiles(layout, dirs)) if (f.stale && unlinkStray(f.path)) removed.push(f.path);
  return removed;
}

/**
 * removeStaleTempFiles for one directory, read in batches on the thread pool: signed/ holds
 * a file per certificate, and reading a million names at once blocks a server for a second
 * or more. Returns the paths removed.
 */
export async function removeStaleTempFilesAsync(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let d;
  try {
    d = await opendir(dir, { bufferSize: 1024 });
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return removed;
    throw err;
  }
  for await (const e of d) {
    if (!e.name.startsWith(TEMP_PREFIX)) continue;
    const pid = tempWriterPid(e.name);
    const path = join(dir, e.name);
    if ((pid === undefined || !isRunning(pid)) && unlinkStray(path)) removed.push(path);
  }
  return removed;
}

function unlinkStray(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    // Another process recovering at the same time got there first.
    if (!isErrno(err, "ENOENT")) throw err;
    return false;
  }
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return !isErrno(err, "ESRCH");
  }
}
