/**
 * CaStore over Puppet Server's CA directory (reference/puppetserver-ca.md section 2), so
 * that fleetca and Puppet's own tools can work on the same cadir, one after the other.
 *
 * fleetca adds files Puppet ignores: `.fleetca.lock` (the cross-process lock),
 * `fleetca_index.jsonl` (the list index; safe to delete, it is rebuilt from the PEM files),
 * `audit.log` (the audit trail, audit-log.ts) and `fleetca_revocations.tsv` (the revocation
 * records, revocations.ts; rebuilt from ca_crl.pem and inventory.txt when deleted, losing
 * only who revoked and why).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createPublicKey } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import { chmod, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  StoreConflictError,
  type ArchiveItem,
  type AuditQuery,
  type AuditRecord,
  type RegenerationState,
  type TrackedNode,
  type CaMaterial,
  type CaStore,
  type IndexEntriesStore,
  type IndexEntry,
  type IndexRows,
  type IndexPage,
  type IndexQuery,
  type InventoryEntry,
  type LeftoverStore,
  type ListedState,
  type RevocationRecord,
  type SignedCommit,
  type Summarize,
} from "../../ca/store.js";
import { appendLog, fillTaken, fsyncDir, isErrno, newOwnerIn, readTextIfThere, takeInode, TEMP_PREFIX, unlinkDurable, writeFileAtomic, writeFileAtomicStaged, type NewOwner, type Taken } from "./atomic.js";
import { AuditLog, encodeAudit } from "./audit-log.js";
import { caInventoryEntry } from "./ca-inventory.js";
import { CatalogCache } from "../index-query.js";
import { formatInventoryLine, formatSerialHex, parseInventory, parseSerialFile } from "./formats.js";
import { GroupCommit } from "../../lib/group-commit.js";
import { IndexCache, type BatchOp } from "./index-cache.js";
import { makeEntry } from "./journal.js";
import { InventoryNames } from "./inventory-names.js";
import { assertSafeName, isSafeName, Layout, MODES, nameOfPemFile, noCaError, type Kind } from "./layout.js";
import { AsyncMutex, FileLock, type LockOptions, type LockRelease } from "./lock.js";
import { findTempFiles, removeStaleTempFiles, removeStaleTempFilesAsync } from "./recover.js";
import { encodeRecords, RevocationFile } from "./revocations.js";
import { TrackingFile } from "./tracking.js";
import { CaKeyFile, isEncryptedKeyPem, PassphraseError } from "./ca-key.js";
import { exportTree, importTree } from "./tree.js";
import { FileAccounts } from "./accounts.js";
import type { ConsoleSession, ConsoleUser, LoginCounter } from "../../ca/store.js";
import { CommitJournal, currentBoot, sha256Hex, type JournalBatch, type JournalOp } from "./commit-journal.js";
import { RecentFiles } from "./recent-files.js";
import { checkpointIfLarge, noteJournalSize, recoverFromJournal, sizeOf, type RepairReport } from "./journal-repair.js";

export { assertSafeName } from "./layout.js";

export type FileStoreOptions = LockOptions & {
  /** Keep ca_key.pem encrypted under this passphrase (ca-key.ts); undefined: in clear, as Puppet does. */
  passphrase?: string;
  /** What the operator must be told (a clear key while a passphrase is set). */
  onNotice?: (message: string) => void;
  /**
   * How long the CA lock is kept after this process's last batch, for its next one (a
   * server: SERVER_LINGER_MS); 0, a CLI's, lets go at once. Taking and removing the lock
   * file per batch freed an inode each time, and on an ext4 without a journal every new
   * file (each certificate) is then allocated past the inodes freed in the last minutes,
   * reading each: ~0.1-0.3 ms per certificate after a few thousand (docs/performance.md).
   */
  lingerMs?: number;
};

/** A server's lingerMs: another process asking for the lock waits at most this long more. */
export const SERVER_LINGER_MS = 10;

/**
 * Lock files held by the current async call chain, to refuse re-entry instead of deadlocking:
 * only when FLEETCA_LOCK_CHECKS=1 (the test suite sets it). Running an AsyncLocalStorage turns
 * on V8's promise hooks for every promise of the process, ~0.4 us per async call here
 * (docs/performance.md), a tax on every request of a busy server; without it, the "only
 * inside withLock" checks below ask whether this process holds the lock (`active`), which is
 * what keeps another process from taking the same serial.
 */
let held: AsyncLocalStorage<ReadonlySet<string>> | null | undefined;
/** Decided at the first withLock of the process (a test file sets the variable before it). */
function chainTracker(): AsyncLocalStorage<ReadonlySet<string>> | null {
  if (held === undefined) held = process.env.FLEETCA_LOCK_CHECKS === "1" ? new AsyncLocalStorage<ReadonlySet<string>>() : null;
  return held;
}
/** Per lock file: callers queued in this process, and the file lock while it is handed from one to the next. */
const holds = new Map<string, Hold>();

interface Hold {
  waiting: number;
  active?: boolean;
  file?: { release: LockRelease; since: number };
  yieldUntil?: number;
  /** Lets go of a lock kept after the last batch (lingerMs), unless a caller came meanwhile. */
  linger?: NodeJS.Timeout;
  /** When another process last asked for the lock: for CONTENDED_MS after, the lock is not kept after a batch. */
  askedAt?: number;
}

const CONTENDED_MS = 1000;
const HANDOVER_MS = 50;
/**
 * When another process asked for the lock (lock.ts, signalWaiting), it is let go after the
 * current batch, and this process's next caller waits this long before taking it again: the
 * waiter is woken by the lock file's removal, and without the pause the releasing process,
 * whose next batch is already queued, took it back first every time. Two workers on one CA
 * otherwise took turns of HANDOVER_MS each, one working while the other's requests waited.
 */
const YIELD_MS = 2;
/** The directory's index, told when another process is inside the CA lock (index-cache.ts, otherWriter). */
function indexFor(layout: Layout): IndexCache {
  const index = IndexCache.for(layout);
  index.otherWriter = () => holds.get(layout.lock)?.file === undefined && existsSync(layout.lock);
  return index;
}

/**
 * Lets go of the lock a process kept after its last batch, `ms` later or as soon as another
 * process asks for it (looked at every LINGER_LOOK_MS), unless a caller of this process
 * queued meanwhile (it decides in its turn).
 */
function lingerThenRelease(h: Hold, queue: AsyncMutex, ms: number): void {
  clearTimeout(h.linger);
  const until = Date.now() + ms;
  const look = () => {
    h.linger = undefined;
    if (h.waiting > 0 || !h.file) return;
    const asked = h.file.release.othersWaiting();
    if (!asked && Date.now() < until) {
      h.linger = setTimeout(look, LINGER_LOOK_MS);
      return;
    }
    void releaseIdle(h, queue, asked).catch(() => undefined);
  };
  h.linger = setTimeout(look, Math.min(ms, LINGER_LOOK_MS));
}

const LINGER_LOOK_MS = 2;

function releaseIdle(h: Hold, queue: AsyncMutex, asked = false): Promise<void> {
  h.linger = undefined;
  return queue.run(async () => {
    if (h.waiting > 0 || !h.file) return;
    const { release } = h.file;
    h.file = undefined;
    await release();
    if (!asked) return;
    h.askedAt = Date.now();
    h.yieldUntil = h.askedAt + YIELD_MS;
  });
}

/** One queue per lock file per process, shared by every FileStore opened on the same cadir. */
const queues = new Map<string, AsyncMutex>();

export class FileStore implements CaStore, LeftoverStore, IndexEntriesStore {
  readonly location: string;
  private readonly layout: Layout;
  private readonly lock: FileLock;
  private index: IndexCache;
  private audit: AuditLog;
  private revocations: RevocationFile;
  private readonly tracking: TrackingFile;
  readonly archiveKind = "file";
  private readonly accounts: FileAccounts;
  private readonly commits: CommitJournal;
  private readonly caKey: CaKeyFile;
  private readonly lingerMs: number;
  /** Certificates this process wrote lately, served by getCertificate while the file is still the one written. */
  private readonly written = new RecentFiles();
  /** What the last recovery at lock time repaired (undefined: nothing needed checking). */
  lastRepair?: RepairReport;

  constructor(cadir: string, opts: FileStoreOptions = {}) {
    this.location = resolve(cadir);
    this.layout = new Layout(this.location);
    this.lock = new FileLock(this.layout.lock, opts);
    this.index = indexFor(this.layout);
    this.audit = AuditLog.for(this.layout.audit);
    this.revocations = RevocationFile.for(this.layout);
    this.tracking = new TrackingFile(join(this.location, "fleetca_regeneration.jsonl"));
    this.accounts = new FileAccounts(this.location);
    this.commits = new CommitJournal(this.layout.commitJournal);
    this.caKey = new CaKeyFile(this.layout.caKey, opts.passphrase);
    this.lingerMs = opts.lingerMs ?? 0;
  }

  /**
   * Brings Puppet's files up to date from the commit journal (commit-journal.ts) after a
   * crash; the server calls it before it answers. Every withLock does the same check first.
   */
  async recover(): Promise<RepairReport | undefined> {
    if (!(await exists(this.layout.cadir))) return undefined;
    await this.withLock(async () => undefined);
    return this.lastRepair;
  }

  /**
   * Opens the store and removes what crashed writers left behind (recover.ts). `sweep`: "all"
   * reads the three directories now; "quick" (a CLI command) leaves signed/ alone, whose
   * million names cost seconds to read for what is at most a file per crash, invisible to
   * every scan; "background" (a server) sweeps signed/ after returning, without blocking.
   */
  static async open(cadir: string, opts: FileStoreOptions = {}, sweep: "all" | "quick" | "background" = "all"): Promise<FileStore> {
    const store = new FileStore(cadir, opts);
    if (sweep === "all") await store.removeLeftovers();
    else {
      removeStaleTempFiles(store.layout, [store.layout.cadir, store.layout.requests]);
      // Best effort: a leftover not removed now is removed by the next start or `ca check --repair`.
      if (sweep === "background") void removeStaleTempFilesAsync(store.layout.signed).catch(() => undefined);
    }
    const raw = opts.passphrase !== undefined ? await readOptional(store.layout.caKey) : undefined;
    if (raw !== undefined && !isEncryptedKeyPem(raw)) {
      opts.onNotice?.(
        `${store.layout.caKey} is in clear although a CA passphrase is set: it stays so (Puppet Server reads only a clear key); ` +
          "encrypt it with `fleetca ca passphrase --rotate --new-passphrase-file FILE`.",
      );
    }
    return store;
  }

  /** LeftoverStore: temporary files of interrupted writes in the CA directory. */
  async leftovers(): Promise<{ path: string; stale: boolean }[]> {
    return findTempFiles(this.layout).map(({ path, stale }) => ({ path, stale }));
  }

  /** LeftoverStore: removes the temporary files whose writer is no longer running. */
  async removeLeftovers(): Promise<string[]> {
    return removeStaleTempFiles(this.layout);
  }

  async isInitialized(): Promise<boolean> {
    return (await exists(this.layout.caCrt)) && (await exists(this.layout.caKey));
  }

  /**
   * Creates the directories and every file of Puppet's layout. Refuses (StoreConflictError)
   * when any CA file is already there, unless `overwrite`; then the CA files, serial and
   * inventories are replaced, while requests/ and signed/ are left to the caller. The
   * revocation records of a CA being replaced are moved aside (fleetca_revocations.tsv.replaced-<time>):
   * they name the old CA's serials, which the new one issues again. audit.log is kept.
   * inventory.txt starts with the CA's own line, as Puppet's does: `caInventory` when given
   * (an extension of the CaStore signature), else read from the CA certificate.
   * Not locked here: callers racing other processes run it inside withLock.
   */
  async initialize(
    material: CaMaterial,
    opts: { firstSerial: bigint; overwrite?: boolean; caInventory?: InventoryEntry | null },
  ): Promise<void> {
    const L = this.layout;
    const files = [L.caCrt, L.caKey, L.caPub, L.caCrl, L.infraCrl, L.inventory, L.infraInventory, L.infraSerials, L.serial];
    const existing: string[] = [];
    for (const f of files) if (await exists(f)) existing.push(f);
    if (existing.length > 0 && !opts.overwrite) {
      throw new StoreConflictError(
        `Existing CA files in ${L.cadir}: ${existing.join(", ")}. ` +
          `If you really want to replace this CA, move them away first (keep a backup: ca_key.pem cannot be recovered).`,
        existing,
      );
    }
    await mkdirExact(L.cadir, MODES.cadir);
    await mkdirExact(L.requests, MODES.subdir);
    await mkdirExact(L.signed, MODES.subdir);
    // Before the new CRL: a crash in between must not leave the old records beside it.
    await moveAside(L.revocations, `${L.revocations}.replaced-${new Date().toISOString().replace(/[:.]/g, "")}`);
    await writeFileAtomic(L.serial, formatSerialHex(opts.firstSerial), MODES.publicFile);
    const caLine = opts.caInventory === undefined ? caInventoryEntry(material.certPem) : opts.caInventory;
    await writeFileAtomic(L.inventory, caLine ? formatInventoryLine(caLine) : "", MODES.inventory);
    await writeFileAtomic(L.infraInventory, "", MODES.inventory);
    await writeFileAtomic(L.infraSerials, "", MODES.publicFile);
    await writeFileAtomic(L.caPub, material.publicKeyPem, MODES.publicFile);
    await writeFileAtomic(L.caCrl, material.crlPem, MODES.publicFile);
    await writeFileAtomic(L.infraCrl, material.crlPem, MODES.publicFile);
    if (material.keyProblem !== undefined) throw new PassphraseError(`The CA key cannot be written to ${L.caKey}: ${material.keyProblem}.`);
    await writeFileAtomic(L.caKey, this.caKey.encode(material.keyPem), await keyMode(L.caKey));
    // Last: isInitialized() looks at ca_crt.pem, so a crash before here leaves no half CA.
    await writeFileAtomic(L.caCrt, material.certPem, MODES.publicFile);
  }

  async loadCaMaterial(): Promise<CaMaterial> {
    const L = this.layout;
    const certPem = await this.readCaFile(L.caCrt);
    const rawKey = await this.readCaFile(L.caKey);
    const crlPem = await this.readCaFile(L.caCrl);
    const pub = await readOptional(L.caPub);
    const key = this.caKey.open(rawKey, pub);
    if ("keyProblem" in key) {
      return { certPem, keyPem: "", keyProblem: key.keyProblem, publicKeyPem: pub ?? createPublicKey(certPem).export({ type: "spki", format: "pem" }).toString(), crlPem };
    }
    // Some imports leave no ca_pub.pem; it is derivable, so its absence is not an error.
    const publicKeyPem = pub ?? createPublicKey(key.keyPem).export({ type: "spki", format: "pem" }).toString();
    return { certPem, keyPem: key.keyPem, publicKeyPem, crlPem };
  }

  /**
   * `fleetca ca passphrase --rotate`: writes ca_key.pem again encrypted under `next` (new salt
   * and IV), from the clear key or from the key the current passphrase opens. A running server
   * keeps the key it opened; give it the new passphrase before it next starts.
   */
  async rotatePassphrase(next: string): Promise<void> {
    if (next === "") throw new PassphraseError("The new passphrase is empty.");
    await this.withLock(async () => {
      const L = this.layout;
      const keyPem = this.caKey.currentKeyPem(await this.readCaFile(L.caKey));
      await writeFileAtomic(L.caKey, new CaKeyFile(L.caKey, next).encode(keyPem), await keyMode(L.caKey));
    });
  }

  /**
   * Runs fn holding `.fleetca.lock` (other processes) and this process's queue for it.
   * Not re-entrant: calling withLock again from inside fn throws rather than deadlocking.
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const path = this.layout.lock;
    const chain = chainTracker();
    const outer = chain?.getStore();
    if (outer?.has(path)) {
      throw new Error(`withLock is not re-entrant: this call chain already holds ${path}`);
    }
    let queue = queues.get(path);
    if (!queue) queues.set(path, (queue = new AsyncMutex()));
    let hold = holds.get(path);
    if (!hold) holds.set(path, (hold = { waiting: 0 }));
    const h = hold;
    h.waiting++;
    return queue.run(async () => {
      h.waiting--;
      if (!h.file) {
        // We let go because another process may be waiting: give it the moment it needs to take the lock.
        const pause = (h.yieldUntil ?? 0) - Date.now();
        h.yieldUntil = undefined;
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
        h.file = { release: await this.acquireFileLock(), since: Date.now() };
        // The last holder may have died between the commit journal's fsync and Puppet's files.
        const repaired = await recoverFromJournal(this.layout, this.commits);
        if (repaired) this.lastRepair = repaired;
      }
      h.active = true;
      try {
        return chain ? await chain.run(new Set([...(outer ?? []), path]), fn) : await fn();
      } finally {
        h.active = false;
        // Another caller in this process is queued (a busy server: the next batch of serials
        // or certificates): the file lock passes to it instead of being removed and made again
        // (a file created and unlinked per batch), for at most HANDOVER_MS, so other
        // processes still get their turn. With none queued, a server keeps it lingerMs more.
        const heldMs = Date.now() - h.file.since;
        const othersWaiting = (h.waiting > 0 || this.lingerMs > 0) && h.file.release.othersWaiting();
        if (othersWaiting || heldMs >= HANDOVER_MS || (h.waiting === 0 && this.lingerMs <= 0)) {
          const { release } = h.file;
          h.file = undefined;
          await release();
          if (othersWaiting) {
            h.yieldUntil = Date.now() + YIELD_MS;
            h.askedAt = Date.now();
          }
        } else if (h.waiting === 0 && Date.now() - (h.askedAt ?? -Infinity) < CONTENDED_MS) {
          // Another process asked for the lock lately (a second server or worker on this CA): let go at once, as a CLI does.
          const { release } = h.file;
          h.file = undefined;
          await release();
        } else if (h.waiting === 0) {
          lingerThenRelease(h, queue, Math.min(this.lingerMs, HANDOVER_MS - heldMs));
        }
      }
    });
  }

  /** Whether the caller is inside withLock (exactly its call chain with FLEETCA_LOCK_CHECKS=1, else this process). */
  private holdsLock(): boolean {
    const chain = chainTracker();
    return chain ? chain.getStore()?.has(this.layout.lock) === true : holds.get(this.layout.lock)?.active === true;
  }

  /** Reads `serial`, stores serial + 1 atomically, returns what was read. Only inside withLock. */
  async allocateSerial(): Promise<bigint> {
    if (!this.holdsLock()) {
      throw new Error("allocateSerial must be called inside withLock: two processes could otherwise issue the same serial");
    }
    const serial = await this.peekSerial();
    // Not fsynced: every certificate's batch in the commit journal carries the counter, and a
    // serial whose certificate never reached the journal was never handed out.
    await writeFileAtomic(this.layout.serial, formatSerialHex(serial + 1n), MODES.publicFile, { sync: false });
    return serial;
  }

  /** allocateSerial for `count` serials in one write (BatchStore): returns the first. Only inside withLock. */
  async allocateSerials(count: number): Promise<bigint> {
    if (!this.holdsLock()) {
      throw new Error("allocateSerials must be called inside withLock: two processes could otherwise issue the same serial");
    }
    const serial = await this.peekSerial();
    await writeFileAtomic(this.layout.serial, formatSerialHex(serial + BigInt(count)), MODES.publicFile, { sync: false });
    return serial;
  }

  /** BatchStore.returnSerials. Only inside withLock. */
  async returnSerials(from: bigint, end: bigint): Promise<boolean> {
    if (!this.holdsLock()) {
      throw new Error("returnSerials must be called inside withLock: another process could allocate in between");
    }
    if ((await this.peekSerial()) !== end) return false;
    await writeFileAtomic(this.layout.serial, formatSerialHex(from), MODES.publicFile, { sync: false });
    return true;
  }

  /**
   * putCertificate + deleteRequest for a batch (BatchStore): the batch goes into the commit
   * journal first (one append, one fdatasync off the event loop: its durable record), then
   * Puppet's files are written from it without an fsync each: signed/NAME.pem, one
   * inventory append, the requests removed, the serial counter it carries, the audit lines.
   * Call inside withLock.
   */
  async commitSigned(items: SignedCommit[]): Promise<void> {
    if (items.length === 0) return;
    const L = this.layout;
    const audit = encodeAudit(items.flatMap((it) => (it.audit ? [it.audit] : [])));
    const ops: JournalOp[] = [];
    const bops: BatchOp[] = [];
    let next = await this.peekSerial();
    // The request each certificate replaces (for the journal's check of it on replay): as the
    // precondition read it under this lock when the caller passes it, else read here.
    const requests = items.map((it) => (it.removeRequest === false ? undefined : it.requestPem ?? readTextIfThere(L.pemPath("request", it.name))));
    // The certificate files take their requests' inodes (atomic.ts: takeInode, fillTaken): every
    // request is moved first, the moves made durable by one fsync of requests/, then the files
    // are written. Both changes are in the journal batch, durable before any file is touched.
    const names = new Set<string>();
    const takes = items.map((it, i) => requests[i] !== undefined && !names.has(it.name) && names.add(it.name) !== undefined);
    const takers = takes.filter(Boolean).length;
    let arrived = 0;
    let moved!: () => void;
    const movesDurable = new Promise<void>((resolve) => (moved = resolve)).then(() => fsyncDir(L.requests));
    let owner: NewOwner | undefined;
    items.forEach((it, i) => {
      const path = L.pemPath("certificate", it.name);
      const line = formatInventoryLine(it.inventory);
      const inv = line.endsWith("\n") ? line : `${line}\n`;
      ops.push({ op: "cert", name: it.name, pem: it.certPem, inv });
      if (it.inventory.serial >= next) next = it.inventory.serial + 1n;
      const request = takes[i] ? L.pemPath("request", it.name) : undefined;
      const write = request === undefined
        ? async () => this.written.remember(path, it.certPem, await writeFileAtomic(path, it.certPem, MODES.publicFile, { sync: false }))
        : async () => {
            let inode: Taken;
            try {
              inode = takeInode(request, path);
            } finally {
              if (++arrived === takers) moved();
            }
            await movesDurable;
            return fillTaken(inode, path, it.certPem, MODES.publicFile, (owner ??= newOwnerIn(L.signed)));
          };
      bops.push({ kind: "certificate", name: it.name, entry: it.entry, inventoryLine: inv, write });
    });
    items.forEach((it, i) => {
      const csr = requests[i];
      if (csr === undefined || !takes[i]) return;
      ops.push({ op: "unreq", name: it.name, sha: sha256Hex(csr) });
      // Already gone with its certificate's write: recorded in the index as removed.
      bops.push({ kind: "request", name: it.name, write: async () => undefined });
    });
    const batch: JournalBatch = { boot: currentBoot(), pid: process.pid, serial: formatSerialHex(next).trim(), invAt: sizeOf(L.inventory), ops };
    if (audit) {
      batch.audit = audit;
      batch.auditAt = sizeOf(L.audit);
    }
    const size = await this.commits.append(batch);
    noteJournalSize(this.commits, size);
    await this.index.mutex.run(() => this.index.recordBatch(bops, { sync: false }));
    if (audit) await appendLog(L.audit, audit, MODES.records, "\n", { sync: false });
    await checkpointIfLarge(this.commits, size);
  }

  async peekSerial(): Promise<bigint> {
    const text = await this.readCaFile(this.layout.serial);
    return parseSerialFile(text, this.layout.serial);
  }

  async putRequest(name: string, csrPem: string, entry: IndexEntry, audit?: AuditRecord): Promise<void> {
    const path = this.layout.pemPath("request", name);
    const op: BatchOp = { kind: "request", name, entry, write: () => writeFileAtomic(path, csrPem, MODES.publicFile, { syncDir: false }) };
    const failed = await this.requestWrites.add({ op, audit: audit ? encodeAudit([audit]) : "" });
    if (failed) throw failed;
  }

  async getRequest(name: string): Promise<string | undefined> {
    return readOptional(this.layout.pemPath("request", name));
  }

  /** RequestTimesStore: the request files' modification times. */
  async requestTimes(names: readonly string[]): Promise<Map<string, Date>> {
    const out = new Map<string, Date>();
    await Promise.all(
      names.map(async (name) => {
        try {
          out.set(name, (await stat(this.layout.pemPath("request", name))).mtime);
        } catch (e) {
          if (!isErrno(e, "ENOENT")) throw e;
        }
      }),
    );
    return out;
  }

  async deleteRequest(name: string): Promise<boolean> {
    return this.remove("request", name);
  }

  async putCertificate(name: string, certPem: string, inventory: InventoryEntry, entry: IndexEntry): Promise<void> {
    await this.put("certificate", name, certPem, entry, formatInventoryLine(inventory));
  }

  async getCertificate(name: string): Promise<string | undefined> {
    const path = this.layout.pemPath("certificate", name);
    // Mostly asked of a certificate that is not there (a name's twin at every signing, each
    // pending request's name at start-up): a stat that does not throw costs ~4 us here, the
    // ENOENT error readFileSync builds ~15 us. A file removed in between still reads as absent.
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return undefined;
    return this.written.get(path, st) ?? readOptional(path);
  }

  /** Journaled (commit-journal.ts) before the file goes, so a replay after a reboot cannot bring it back. Call inside withLock. */
  async deleteCertificate(name: string): Promise<boolean> {
    const path = this.layout.pemPath("certificate", name);
    if (!(await exists(path))) return this.remove("certificate", name);
    const batch: JournalBatch = { boot: currentBoot(), pid: process.pid, ops: [{ op: "uncert", name }] };
    noteJournalSize(this.commits, await this.commits.append(batch));
    return this.remove("certificate", name);
  }

  async listIndex(summarize: Summarize): Promise<IndexEntry[]> {
    await this.refreshes.add(summarize);
    return this.index.list();
  }

  /** IndexRowsStore: one kind of the index by position, from the packed index (no object per entry). */
  async indexRows(kind: "request" | "certificate", summarize: Summarize): Promise<IndexRows> {
    await this.refreshes.add(summarize);
    return this.index.sortedRows(kind);
  }

  /** The catalogs over the current index (importArchive replaces the index). */
  private get catalogs(): CatalogCache {
    if (this.catalogCache?.index !== this.index) this.catalogCache = { index: this.index, cache: new CatalogCache(this.index) };
    return this.catalogCache.cache;
  }
  private catalogCache?: { index: IndexCache; cache: CatalogCache };

  async queryIndex(q: IndexQuery, summarize: Summarize): Promise<IndexPage> {
    await this.refreshes.add(summarize);
    return this.catalogs.query(q);
  }

  async countIndex(revoked: ReadonlySet<bigint>, summarize: Summarize): Promise<Record<ListedState, number>> {
    await this.refreshes.add(summarize);
    return this.catalogs.counts(revoked);
  }

  /**
   * A process that has not read the index (the CLI revoking one name, a server before its
   * first list) reads the name's two files instead: loading a million-entry index to answer
   * for one name cost seconds. Once loaded, the index answers (and is followed).
   */
  async getIndexEntry(name: string, summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }> {
    assertSafeName(name);
    if (!this.index.loaded) return this.readEntries(name, summarize);
    await this.refreshes.add(summarize);
    return this.indexedEntries(name);
  }

  /** IndexEntriesStore: getIndexEntry for each name, after one refresh of the index. */
  async getIndexEntries(names: readonly string[], summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }[]> {
    for (const name of names) assertSafeName(name);
    if (!this.index.loaded) return Promise.all(names.map((name) => this.readEntries(name, summarize)));
    await this.refreshes.add(summarize);
    return names.map((name) => this.indexedEntries(name));
  }

  /** The name's entries as the loaded index holds them (absent kinds left out). */
  private indexedEntries(name: string): { request?: IndexEntry; certificate?: IndexEntry } {
    const out: { request?: IndexEntry; certificate?: IndexEntry } = {};
    const request = this.index.get("request", name);
    const certificate = this.index.get("certificate", name);
    if (request) out.request = request;
    if (certificate) out.certificate = certificate;
    return out;
  }

  /** getIndexEntry from the files: what the index would hold for them (a file that does not parse is left out, as there). */
  private async readEntries(name: string, summarize: Summarize): Promise<{ request?: IndexEntry; certificate?: IndexEntry }> {
    const out: { request?: IndexEntry; certificate?: IndexEntry } = {};
    for (const kind of ["request", "certificate"] as const) {
      const pem = await readOptional(this.layout.pemPath(kind, name));
      if (pem === undefined) continue;
      try {
        out[kind] = makeEntry(kind, name, summarize(name, kind, pem));
      } catch {
        // Half-written by another tool, or not a PEM this CA reads: the index leaves it out too.
      }
    }
    return out;
  }

  /** RequestNamesStore: the names in requests/ (a directory of the few pending requests, read without the index). */
  async requestNames(): Promise<string[]> {
    let files: string[];
    try {
      files = await readdir(this.layout.requests);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw err;
    }
    const out: string[] = [];
    for (const f of files) {
      const name = f.startsWith(TEMP_PREFIX) ? undefined : nameOfPemFile(f);
      if (name !== undefined && isSafeName(name)) out.push(name);
    }
    return out.sort();
  }

  /**
   * Index refreshes shared by concurrent readers (one per batch, each started after its
   * callers arrived) and request writes committed together (one journal append per batch):
   * under load every submission reads the index and writes a request, and doing each alone
   * under the index mutex made that mutex the server's bottleneck.
   */
  private readonly refreshes = new GroupCommit<Summarize, void>(async (batch) => {
    await this.index.mutex.run(() => this.index.refresh(batch[0]!));
    return batch.map(() => undefined);
  });

  private readonly requestWrites = new GroupCommit<{ op: BatchOp; audit: string }, Error | undefined>(async (batch) => {
    // One submitter's failed file write (a full disk, a name the filesystem refuses) fails that
    // submitter only: its op records nothing and its caller gets the error, while the others'
    // requests, written and journaled, are acknowledged. Before, one failure rejected the whole
    // batch although the others' files were stored, and their retries were refused as duplicates.
    const failed = new Map<number, Error>();
    const ops = batch.map((b, i): BatchOp => ({
      ...b.op,
      write: async () => {
        try {
          return await b.op.write();
        } catch (err) {
          failed.set(i, err as Error);
          return undefined;
        }
      },
    }));
    // The batch's "submitted" records in one append, beside the request files and the journal.
    const audit = batch.map((b) => b.audit).join("");
    await settleAll([this.index.mutex.run(() => this.index.recordBatch(ops)), this.audit.write(audit)]);
    return batch.map((_, i) => failed.get(i));
  });

  async readInventory(): Promise<InventoryEntry[]> {
    return parseInventory((await readOptional(this.layout.inventory)) ?? "");
  }

  /**
   * The inventory lines of certificates issued to `names` (`/CN=NAME` subjects), without
   * parsing the rest: a revoke or clean needs a few names' lines, and parsing a
   * million-line inventory for them cost seconds (inventory-names.ts finds them).
   */
  async readInventoryFor(names: readonly string[]): Promise<InventoryEntry[]> {
    return parseInventory(InventoryNames.for(this.layout.inventory).linesFor(names));
  }

  async getCrl(): Promise<string> {
    return this.readCaFile(this.layout.caCrl);
  }

  /**
   * Replaces ca_crl.pem. infra_crl.pem is left as it is, as Puppet Server does: it is written
   * at setup and changes only for infrastructure certificates once the infra CRL is enabled
   * (reference transcript 02-crl-after-revoke: after two revokes infra_crl.pem is still the
   * setup-time CRL). Not mirroring it also halves the bytes written per revoke at 100,000 entries.
   */
  async putCrl(crlPem: string): Promise<void> {
    await writeFileAtomic(this.layout.caCrl, crlPem, MODES.publicFile);
  }

  async putCaCertificate(certPem: string): Promise<void> {
    await writeFileAtomic(this.layout.caCrt, certPem, MODES.publicFile);
  }

  /** StagedCrlStore: ca_crl.pem written around a middle known before the signature. */
  async putCrlStaged(middle: { offset: number; bytes: Uint8Array }, ends: Promise<{ before: Uint8Array; after: Uint8Array }>): Promise<void> {
    await writeFileAtomicStaged(this.layout.caCrl, middle, ends, MODES.publicFile);
  }

  /**
   * Appends the records to fleetca_revocations.tsv and the audit lines to audit.log, the two
   * appends side by side, both durable before this resolves. Call inside withLock.
   */
  async putRevocations(records: RevocationRecord[], audit: AuditRecord[]): Promise<void> {
    // Both encoded before either is written: a record that cannot be written fails the call whole.
    const lines = encodeRecords(records);
    const auditLines = encodeAudit(audit);
    await settleAll([this.revocations.add(records, lines), this.audit.write(auditLines)]);
  }

  async listRevocations(): Promise<RevocationRecord[]> {
    return this.revocations.list();
  }

  async getRevocation(serial: bigint): Promise<RevocationRecord | undefined> {
    return this.revocations.get(serial);
  }

  async findBySerial(serial: bigint, summarize: Summarize): Promise<IndexEntry | undefined> {
    await this.refreshes.add(summarize);
    return this.index.findBySerial(serial);
  }

  /** Appends to audit.log, sharing one write and fsync with concurrent appends. */
  async appendAudit(records: AuditRecord[]): Promise<void> {
    await this.audit.append(records);
  }

  async readAudit(query: AuditQuery): Promise<AuditRecord[]> {
    return this.audit.read(query);
  }

  async materialVersion(): Promise<string> {
    return stamps([this.layout.caCrt, this.layout.caKey, this.layout.caCrl]);
  }

  // ---------------------------------------------------------------- console users and sessions (accounts.ts)

  getLoginCounters(keys: readonly string[]): Promise<Map<string, LoginCounter>> {
    return this.accounts.getLoginCounters(keys);
  }

  updateLoginCounters(keys: readonly string[], change: (current: Map<string, LoginCounter>) => Map<string, LoginCounter | undefined>): Promise<void> {
    return this.accounts.updateLoginCounters(keys, change);
  }

  pruneLoginCounters(failuresBefore: Date, lockedBefore: Date): Promise<number> {
    return this.accounts.pruneLoginCounters(failuresBefore, lockedBefore);
  }

  createUser(user: ConsoleUser): Promise<void> {
    return this.accounts.createUser(user);
  }
  updateUser(user: ConsoleUser): Promise<boolean> {
    return this.accounts.updateUser(user);
  }
  getUser(name: string): Promise<ConsoleUser | undefined> {
    return this.accounts.getUser(name);
  }
  listUsers(): Promise<ConsoleUser[]> {
    return this.accounts.listUsers();
  }
  deleteUser(name: string): Promise<boolean> {
    return this.accounts.deleteUser(name);
  }
  putSession(session: ConsoleSession): Promise<void> {
    return this.accounts.putSession(session);
  }
  getSession(id: string): Promise<ConsoleSession | undefined> {
    return this.accounts.getSession(id);
  }
  touchSession(id: string, lastSeen: Date): Promise<boolean> {
    return this.accounts.touchSession(id, lastSeen);
  }
  deleteSession(id: string): Promise<boolean> {
    return this.accounts.deleteSession(id);
  }
  deleteSessionsOf(user: string): Promise<number> {
    return this.accounts.deleteSessionsOf(user);
  }
  pruneSessions(idleBefore: Date, createdBefore: Date): Promise<number> {
    return this.accounts.pruneSessions(idleBefore, createdBefore);
  }

  // ---------------------------------------------------------------- archives and tracking (ca/lifecycle)

  /** Every file of the CA directory with its mode, but the lock and writers' temporary files. */
  exportArchive(): AsyncIterable<ArchiveItem> {
    return exportTree(this.location);
  }

  /**
   * Replaces the whole CA directory (tree.ts: written beside it, then swapped in), and drops
   * this process's caches of it, which describe the directory that was replaced.
   */
  async importArchive(items: AsyncIterable<ArchiveItem>): Promise<void> {
    await importTree(this.location, items);
    IndexCache.forget(this.location);
    InventoryNames.forget(this.layout.inventory);
    AuditLog.forget(this.layout.audit);
    RevocationFile.forget(this.location);
    this.index = indexFor(this.layout);
    this.audit = AuditLog.for(this.layout.audit);
    this.revocations = RevocationFile.for(this.layout);
  }

  startTracking(state: RegenerationState, names: string[]): Promise<void> {
    return this.tracking.start(state, names);
  }

  readTracking(): Promise<{ state: RegenerationState; nodes: TrackedNode[] } | undefined> {
    return this.tracking.read();
  }

  markSeen(name: string, at: Date, address: string): Promise<void> {
    return this.tracking.seen(name, at, address);
  }

  dismissNode(name: string, at: Date): Promise<boolean> {
    return this.tracking.dismiss(name, at);
  }

  stopTracking(): Promise<void> {
    return this.tracking.stop();
  }

  endOverlap(at: Date): Promise<boolean> {
    return this.tracking.endOverlap(at);
  }

  /**
   * requests/ and signed/ renamed aside and replaced by empty directories (two renames each,
   * not one unlink per file: 100,000 certificates go in a moment), then the old ones removed.
   * The index follows the new directories (their mtimes changed) on its next refresh.
   */
  async clearIssued(): Promise<{ requests: number; certificates: number }> {
    // Nothing in the commit journal may be repaired back into the emptied directories.
    await this.commits.checkpoint();
    noteJournalSize(this.commits, 0);
    const counts = { requests: 0, certificates: 0 };
    const stamp = new Date().toISOString().replace(/[:.]/g, "");
    for (const [dir, key] of [[this.layout.requests, "requests"], [this.layout.signed, "certificates"]] as const) {
      const aside = `${dir}.cleared-${stamp}`;
      const mode = (await stat(dir)).mode & 0o7777;
      counts[key] = (await readdir(dir)).filter((f) => f.endsWith(".pem")).length;
      await rename(dir, aside);
      await mkdirExact(dir, mode);
      await fsyncDir(this.layout.cadir);
      await removeFlatDir(aside);
    }
    await this.index.mutex.run(() => this.index.refresh(() => {
      throw new Error("no file to summarize in emptied directories");
    }));
    return counts;
  }

  /**
   * Nothing is held between calls (locks are released by withLock, files closed after each
   * use); a non-empty commit journal is checkpointed, so the next start has nothing to check.
   */
  async close(): Promise<void> {
    if (this.commits.size() !== 0 && (await exists(this.layout.cadir))) {
      await this.withLock(() => this.commits.checkpoint().then(() => noteJournalSize(this.commits, 0)));
    }
    const h = holds.get(this.layout.lock);
    if (h?.linger) {
      clearTimeout(h.linger);
      await releaseIdle(h, queues.get(this.layout.lock)!);
    }
  }

  private async put(kind: Kind, name: string, pem: string, entry: IndexEntry, inventoryLine?: string): Promise<void> {
    const path = this.layout.pemPath(kind, name);
    await this.index.mutex.run(() =>
      this.index.record(kind, name, entry, () => writeFileAtomic(path, pem, MODES.publicFile), inventoryLine),
    );
  }

  private async remove(kind: Kind, name: string): Promise<boolean> {
    const path = this.layout.pemPath(kind, name);
    let removed = false;
    await this.index.mutex.run(() =>
      this.index.record(kind, name, undefined, async () => {
        removed = await unlinkDurable(path);
        return undefined;
      }),
    );
    return removed;
  }

  private async acquireFileLock(): Promise<LockRelease> {
    try {
      return await this.lock.acquire();
    } catch (err) {
      // Setup takes the lock before the CA directory exists.
      if (!isErrno(err, "ENOENT")) throw err;
      await mkdirExact(this.layout.cadir, MODES.cadir);
      return this.lock.acquire();
    }
  }

  private async readCaFile(path: string): Promise<string> {
    const text = await readOptional(path);
    if (text === undefined) throw noCaError(this.layout.cadir, path);
    return text;
  }
}

/**
 * Waits for every promise and rejects with the first failure in list order: a caller never
 * hears back while one of its durable writes is still running.
 */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

/** Renames `from` to `to` if it exists (made durable by the directory fsyncs of the writes that follow). */
async function moveAside(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  return (await readOptionalBytes(path))?.toString("utf8");
}

/**
 * Synchronous: these are small files (a CSR, a certificate, the serial) read on the
 * signing path and inside the CA lock, where readFile's four thread-pool round trips cost
 * more main-thread time than the read itself (see atomic.ts). The 5 MB CRL of a 100,000-
 * entry CA takes ~3 ms this way, and is read only when the CA material changes.
 */
async function readOptionalBytes(path: string): Promise<Buffer | undefined> {
  try {
    return readFileSync(path);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
}

/** Identity of files' current versions: a rename gives a new inode even within one mtime tick. */
async function stamps(paths: string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map(async (p) => {
      try {
        const st = await stat(p, { bigint: true });
        return `${st.ino}:${st.size}:${st.mtimeNs}`;
      } catch (err) {
        if (isErrno(err, "ENOENT")) return "absent";
        throw err;
      }
    }),
  );
  return parts.join("/");
}

/**
 * Removes a directory of files (signed/, requests/ moved aside): one unlink each, on this
 * thread. fs.rm's recursive walk costs an lstat and two thread-pool trips per file, seconds
 * for 100,000 certificates; anything but plain files falls back to it.
 */
async function removeFlatDir(dir: string): Promise<void> {
  try {
    for (const name of readdirSync(dir)) unlinkSync(join(dir, name));
    rmdirSync(dir);
  } catch {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Creates a directory with exactly `mode` (not filtered by the umask); leaves an existing one alone. */
async function mkdirExact(path: string, mode: number): Promise<void> {
  const created = await mkdir(path, { recursive: true, mode });
  if (created !== undefined) await chmod(path, mode);
}

/** 0600, or the existing key's mode if that is stricter still (say 0400). */
async function keyMode(path: string): Promise<number> {
  try {
    const mode = (await stat(path)).mode & 0o777;
    // Keep it only if it is a subset of 0600 that still lets the owner read the key.
    return (mode & ~MODES.caKey) === 0 && (mode & 0o400) !== 0 ? mode : MODES.caKey;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return MODES.caKey;
    throw err;
  }
}
