/**
 * Bringing Puppet's files up to date from the commit journal (commit-journal.ts) after a
 * crash: each step checks what is on disk first, so repairing a batch that was applied
 * already changes nothing.
 */
import { statSync, closeSync, openSync, readSync } from "node:fs";
import { appendLog, isErrno, readTextIfThere, unlinkIfThere, writeFileAtomic } from "./atomic.js";
import { CHECKPOINT_BYTES, CommitJournal, currentBoot, sha256Hex, type JournalBatch } from "./commit-journal.js";
import { formatSerialHex, parseSerialFile } from "./formats.js";
import { MODES, type Layout } from "./layout.js";

/** What a repair changed, for the log and for `ca check`. */
export interface RepairReport {
  batches: number;
  certificates: number;
  requestsRemoved: number;
  inventoryLines: number;
  auditLines: number;
  serial: boolean;
}

export function emptyReport(): RepairReport {
  return { batches: 0, certificates: 0, requestsRemoved: 0, inventoryLines: 0, auditLines: 0, serial: false };
}

/** Makes Puppet's files show `b`, changing only what differs. */
export async function repairBatch(layout: Layout, b: JournalBatch, report: RepairReport): Promise<void> {
  report.batches++;
  for (const op of b.ops) {
    switch (op.op) {
      case "cert": {
        const path = layout.pemPath("certificate", op.name);
        if (readTextIfThere(path) !== op.pem) {
          await writeFileAtomic(path, op.pem, MODES.publicFile, { sync: false });
          report.certificates++;
        }
        break;
      }
      case "uncert":
        if (unlinkIfThere(layout.pemPath("certificate", op.name))) report.certificates++;
        break;
      case "unreq": {
        const path = layout.pemPath("request", op.name);
        const cur = readTextIfThere(path);
        // A request submitted for the name after this batch is not the one it removed.
        if (cur !== undefined && (op.sha === undefined || sha256Hex(cur) === op.sha) && unlinkIfThere(path)) report.requestsRemoved++;
        break;
      }
    }
  }
  const inv = b.ops.map((o) => (o.op === "cert" && o.inv ? o.inv : "")).join("");
  if (inv) report.inventoryLines += await ensureAppended(layout.inventory, b.invAt, inv, MODES.inventory);
  if (b.audit) report.auditLines += await ensureAppended(layout.audit, b.auditAt, b.audit, MODES.records);
  if (b.serial !== undefined) {
    const want = BigInt(`0x${b.serial}`);
    const text = readTextIfThere(layout.serial);
    const have = text === undefined ? undefined : parseSerialFile(text, layout.serial);
    if (have === undefined || have < want) {
      await writeFileAtomic(layout.serial, formatSerialHex(want), MODES.publicFile, { sync: false });
      report.serial = true;
    }
  }
}

/**
 * Per commit journal, what this process last saw of it: when the journal has not changed
 * since (every append of ours updates it), the last holder of the lock was us and nothing needs checking.
 */
const seen = new Map<string, string>();

export function noteJournalSize(journal: CommitJournal, size: number): void {
  seen.set(journal.path, `${currentBoot()}:${size}`);
}

/**
 * Call holding the CA lock, before using the store. On this boot, only the journal's last
 * batch can be unapplied (its writer died between the journal's fsync and Puppet's files);
 * after a reboot every batch since the last checkpoint is repaired and the journal checkpointed.
 */
export async function recoverFromJournal(layout: Layout, journal: CommitJournal): Promise<RepairReport | undefined> {
  if (seen.get(journal.path) === `${currentBoot()}:${journal.size()}`) return undefined;
  const report = emptyReport();
  const last = journal.lastBatch();
  if (last && last.boot === currentBoot()) {
    await repairBatch(layout, last, report);
  } else if (last) {
    for (const b of journal.batches()) await repairBatch(layout, b, report);
    await journal.checkpoint();
  }
  noteJournalSize(journal, journal.size());
  return report;
}

/** Checkpoints when the journal has grown past its bound. Call holding the CA lock. */
export async function checkpointIfLarge(journal: CommitJournal, size: number): Promise<void> {
  if (size < CHECKPOINT_BYTES) return;
  await journal.checkpoint();
  noteJournalSize(journal, 0);
}

/**
 * Makes sure `text` (whole lines) is in the append-only file at `path`: it usually is, at
 * `at`; otherwise (another writer appended in between, or a crash lost the append) the
 * lines not found anywhere in the file are appended. Returns how many lines were appended.
 */
async function ensureAppended(path: string, at: number | undefined, text: string, mode: number): Promise<number> {
  const want = Buffer.from(text, "utf8");
  if (at !== undefined && readAt(path, at, want.length)?.equals(want)) return 0;
  // The file is append-only, so the lines can only be at or after `at`: that part is searched
  // as bytes. Splitting the whole of an 80 MB inventory into a set of a million lines made a
  // server's first start after a crash take seconds.
  const size = sizeOf(path);
  const from = at !== undefined && at <= size ? at : 0;
  const tail = readAt(path, from, size - from) ?? Buffer.alloc(0);
  const missing = text.split("\n").filter((l) => l !== "" && !hasLine(tail, l));
  if (missing.length === 0) return 0;
  await appendLog(path, `${missing.join("\n")}\n`, mode, "\n", { sync: false });
  return missing.length;
}

/** Whether `line` is a whole line of `buf`, which starts at a line's start. */
function hasLine(buf: Buffer, line: string): boolean {
  const first = Buffer.from(`${line}\n`, "utf8");
  if (buf.subarray(0, first.length).equals(first)) return true;
  if (buf.includes(Buffer.from(`\n${line}\n`, "utf8"))) return true;
  // The last line, without its newline.
  const last = Buffer.from(`\n${line}`, "utf8");
  return buf.equals(first.subarray(0, first.length - 1)) || (buf.length >= last.length && buf.subarray(buf.length - last.length).equals(last));
}

function readAt(path: string, at: number, length: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(length);
    const got = readSync(fd, buf, 0, length, at);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export function sizeOf(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}
