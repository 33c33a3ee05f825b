/**
 * The last files this process wrote, with the identity of each (inode, size, mtime) as its
 * write left it. An agent fetches its certificate right after the server wrote it: a stat
 * that still matches answers from memory instead of an open, a read and a close (~15-20 us
 * of system calls here). Any change to the file by anyone (replaced, rewritten, removed)
 * changes what the stat sees, and the file is read again. One exception, as for the
 * index's change checks (index-cache.ts): a rewrite in place to the same size within the
 * same tick of the file system's clock is not seen.
 */
import type { Stats } from "node:fs";

const KEPT = 256;

interface Written {
  text: string;
  ino: number;
  size: number;
  mtimeMs: number;
}

export class RecentFiles {
  private readonly files = new Map<string, Written>();

  /** Notes that `path` now holds `text`, as `stats` (of the written file) describe it; returns `stats`. */
  remember(path: string, text: string, stats: Stats): Stats {
    this.files.delete(path);
    if (this.files.size >= KEPT) this.files.delete(this.files.keys().next().value!);
    this.files.set(path, { text, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs });
    return stats;
  }

  /** The text written to `path`, if `now` (a stat of it) is still that file; else undefined. */
  get(path: string, now: Stats): string | undefined {
    const w = this.files.get(path);
    if (!w) return undefined;
    if (w.ino === now.ino && w.size === now.size && w.mtimeMs === now.mtimeMs) return w.text;
    this.files.delete(path);
    return undefined;
  }
}
