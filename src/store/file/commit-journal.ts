/**
 * fleetca_journal.log: the durable record of every change the CA makes to signed/ and
 * inventory.txt (a certificate stored, a request removed with it, a certificate cleaned),
 * and of the serial counter those certificates moved. One line per batch, written with one
 * append and made durable by one fdatasync on the thread pool; only then are Puppet's files
 * (signed/NAME.pem, inventory.txt, serial, requests/) written, without an fsync each. A
 * batch is acknowledged after both, so what a client received is in the journal.
 *
 * Every batch is written and applied while its writer holds the CA lock, so on the machine's
 * current boot only the last batch of the journal can be unapplied (its writer died between
 * the journal's fsync and Puppet's files; files written before a process dies stay in the
 * page cache). After a reboot every batch since the last checkpoint is checked, as the page
 * cache may not have reached the disk. `recover` does either, under the lock, before the
 * store is used. A checkpoint (syncfs on the CA's filesystem, then the journal truncated)
 * bounds the journal; it runs when the journal grows past CHECKPOINT_BYTES and when a server
 * stops.
 *
 * Not covered: a Puppet tool changing signed/ between a crash and fleetca's next start (the
 * replay after a reboot would put back a certificate it cleaned).
 */
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { closeSync, fdatasync as fdatasyncCb, fstatSync, ftruncateSync, openSync, readFileSync, readSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { isErrno } from "./atomic.js";

/** One change to Puppet's files, in the order it was made. */
export type JournalOp =
  /** signed/NAME.pem written with `pem`; `inv`: its inventory.txt line (with newline). */
  | { op: "cert"; name: string; pem: string; inv?: string }
  /** signed/NAME.pem removed. */
  | { op: "uncert"; name: string }
  /** requests/NAME.pem removed, if its content still hashes to `sha` (a later request for the name is kept). */
  | { op: "unreq"; name: string; sha?: string };

export interface JournalBatch {
  /** /proc/sys/kernel/random/boot_id when written: a different one means the page cache may have been lost since. */
  boot: string;
  pid: number;
  /** The serial counter is at least this (hex) once the batch is applied. */
  serial?: string;
  /** inventory.txt's size before the batch's lines were appended. */
  invAt?: number;
  /** audit.log lines written with the batch, and audit.log's size before them. */
  audit?: string;
  auditAt?: number;
  ops: JournalOp[];
}

/** Past this size the journal is checkpointed (its changes synced to disk, then it is emptied). */
export const CHECKPOINT_BYTES = 32 * 1024 * 1024;

let bootId: string | undefined;

/** This boot's id; a fixed placeholder where /proc does not have it (every replay is then full). */
export function currentBoot(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      bootId = `unknown-${process.pid}-${Date.now()}`;
    }
  }
  return bootId;
}

/** Tests set another boot id to act out a reboot. */
export function setBootForTests(id: string | undefined): void {
  bootId = id;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasyncCb(fd, (err) => (err ? reject(err) : resolve())));
}

export class CommitJournal {
  constructor(readonly path: string) {}

  /**
   * Appends `batch` as one line and waits for it to be on disk (fdatasync on the thread pool:
   * the event loop keeps serving while the disk works). A line torn by an earlier crash is
   * sealed off with a newline first. Call inside the CA lock.
   */
  async append(batch: JournalBatch): Promise<number> {
    const fd = openSync(this.path, "a+", 0o640);
    try {
      const size = fstatSync(fd).size;
      let text = `${JSON.stringify(batch)}\n`;
      if (size > 0) {
        const last = Buffer.alloc(1);
        if (readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) text = `\n${text}`;
      }
      const buf = Buffer.from(text, "utf8");
      let done = 0;
      while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
      await fdatasync(fd);
      return size + buf.length;
    } finally {
      closeSync(fd);
    }
  }

  size(): number {
    return statSync(this.path, { throwIfNoEntry: false })?.size ?? 0;
  }

  /** Every whole batch in the journal, oldest first (a torn or damaged line is skipped). */
  batches(): JournalBatch[] {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw err;
    }
    const out: JournalBatch[] = [];
    for (const line of text.split("\n")) {
      const b = parseBatch(line);
      if (b) out.push(b);
    }
    return out;
  }

  /** The last whole batch, read from the end of the file. */
  lastBatch(): JournalBatch | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
    try {
      const size = fstatSync(fd).size;
      // A batch line is at most ~64 certificates of a few kB; read more until a whole line shows.
      for (let want = 256 * 1024; ; want *= 4) {
        const from = Math.max(0, size - want);
        const buf = Buffer.allocUnsafe(size - from);
        const got = buf.length === 0 ? 0 : readSync(fd, buf, 0, buf.length, from);
        const lines = buf.toString("utf8", 0, got).split("\n");
        // The first piece may be a partial line unless we read from the start.
        for (let i = lines.length - 1; i >= (from === 0 ? 0 : 1); i--) {
          const b = parseBatch(lines[i]!);
          if (b) return b;
        }
        if (from === 0) return undefined;
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Makes everything written to the CA's filesystem durable (syncfs, through coreutils'
   * `sync -f`, on the journal's directory), then empties the journal. Call inside the CA lock.
   */
  async checkpoint(): Promise<void> {
    if (this.size() === 0) return;
    await syncFilesystem(dirname(this.path));
    const fd = openSync(this.path, "r+");
    try {
      ftruncateSync(fd, 0);
      await fdatasync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

function parseBatch(line: string): JournalBatch | undefined {
  if (line.length < 2 || line[0] !== "{") return undefined;
  try {
    const b = JSON.parse(line) as JournalBatch;
    return typeof b.boot === "string" && Array.isArray(b.ops) ? b : undefined;
  } catch {
    return undefined;
  }
}

/** syncfs(2) on the filesystem holding `dir`: one flush instead of an fsync per file written since the last one. */
export function syncFilesystem(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("sync", ["-f", dir], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`sync -f ${dir} exited with ${code}: the CA's files could not be flushed to disk`))));
  });
}
