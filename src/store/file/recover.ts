/**
 * What a crash leaves in the CA directory that no later write cleans up: temporary files
 * (atomic.ts) whose writer died between creating and renaming them. They are invisible to
 * Puppet's tools and to fleetca's scans (TEMP_PREFIX), but they pile up, one per crash,
 * and each may hold a whole CRL. A file is stale only when the pid in its name is no longer
 * running: a live writer's file is about to be renamed and must be left alone.
 */
import { readdirSync, unlinkSync } from "node:fs";
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

/** Every temporary file in the CA directory and its two subdirectories. */
export function findTempFiles(layout: Layout): StrayFile[] {
  const out: StrayFile[] = [];
  for (const dir of [layout.cadir, layout.requests, layout.signed]) {
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

/** Removes the stale temporary files; returns their paths. Needs no lock: nobody else can own them. */
export function removeStaleTempFiles(layout: Layout): string[] {
  const removed: string[] = [];
  for (const f of findTempFiles(layout)) {
    if (!f.stale) continue;
    try {
      unlinkSync(f.path);
      removed.push(f.path);
    } catch (err) {
      // Another process recovering at the same time got there first.
      if (!isErrno(err, "ENOENT")) throw err;
    }
  }
  return removed;
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
