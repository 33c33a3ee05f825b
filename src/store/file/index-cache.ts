/**
 * The in-memory index of requests/ and signed/, kept in step with the journal (what
 * fleetca processes wrote) and with the directories (what other tools wrote). The entries
 * are held packed, as their journal lines' bytes (packed-table.ts).
 *
 * Checking the directories must be cheap because it happens on every list: reading a
 * directory of 100,000 names costs ~150 ms here and stat-ing every file ~500 ms, so both
 * are skipped while nothing points at a change. The pointers:
 *  - a directory's mtime changes when a file is created, removed or renamed into it;
 *  - inventory.txt grows whenever any Puppet tool signs, which is also when it may
 *    rewrite signed/<name>.pem in place (an in-place write leaves the directory's mtime alone).
 * A file replaced in place in requests/ by another tool while nothing else changes is
 * not noticed; no Puppet tool does that on a CA that fleetca serves.
 *
 * Racy timestamps: file times come from a clock that may tick only every few
 * milliseconds (before Linux 6.13's multigrain timestamps), so a change made in the same
 * tick as the mtime we recorded is invisible. A recorded mtime is "settled" only if it was
 * already SETTLE_MS old when seen. Our own writes record the new mtime unsettled, and only
 * when the directory was known to be in sync just before, so a change by another tool
 * between two of ours is not absorbed. An unsettled directory's names (not their stats)
 * are re-read once it is SETTLE_MS old, or every RESCAN_MS while fleetca keeps writing to
 * it: re-reading 100,000 names after every signature would block a busy server, and the
 * cost is that a file another tool drops in the same clock tick as one of our writes shows
 * up a couple of seconds late. From BACKGROUND_SCAN.from names on, that re-read runs in the
 * background instead (the names read on the thread pool, compared in batches between requests) (at 1,000,000 names the
 * synchronous one held every request for ~3 s each time fleetca's writes paused), and only
 * once the directory is SETTLE_MS old: a write of ours during the read changes its mtime and
 * the read is dropped. Nothing found: the directory is marked settled; something found: the
 * full comparison runs as before.
 *
 * Every look at the index (refresh) costs four stats: the journal, inventory.txt and both
 * directories, a few microseconds each, under 2% of an enrollment's server time. They are
 * kept whole: skipping them for a while after the last look would let another tool's
 * change go unseen for that while, which is the guarantee above.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, statSync, type BigIntStats } from "node:fs";
import type { IndexEntry, Summarize } from "../../ca/store.js";
import { appendLine, fsyncDir, isErrno, TEMP_PREFIX } from "./atomic.js";
import { encodeRecord, JournalFile, makeEntry, type IndexRecord, type JournalRecord } from "./journal.js";
import { isSafeName, MODES, nameOfPemFile, noCaError, type Kind, type Layout } from "./layout.js";
import { readNamesOffThread, sameNames, startNamesRead, type NamesRead } from "./dir-names.js";
import { AsyncMutex } from "./lock.js";
import { PackedTable, type SortedRows } from "./packed-table.js";

const SETTLE_MS = 2000;
const RESCAN_MS = 60_000;
/** Names in a directory from which its settle-time re-read runs in the background (tests lower it). */
export const BACKGROUND_SCAN = { from: 20_000 };
const KINDS: Kind[] = ["request", "certificate"];

/** One file change for recordBatch: `entry` set means a put (write returns the new file's stats), unset a removal. */
export interface BatchOp {
  kind: Kind;
  name: string;
  entry?: IndexEntry;
  inventoryLine?: string;
  write: () => Promise<{ size: number; mtimeMs: number } | void>;
}

/** What a look at the disk saw of a directory's mtime or of inventory.txt's size. */
type Observation = Extract<JournalRecord, { op: "dir" } | { op: "inv" }>;

interface DirState {
  mtimeNs: string;
  settled: boolean;
}

/** One index per CA directory per process, so every FileStore on that directory shares it. */
const caches = new Map<string, IndexCache>();

export class IndexCache {
  /** Drops this process's instance for a directory whose files were replaced whole (a restore). */
  static forget(key: string): void {
    caches.delete(key);
  }

  static for(layout: Layout): IndexCache {
    let cache = caches.get(layout.cadir);
    if (!cache) caches.set(layout.cadir, (cache = new IndexCache(layout)));
    return cache;
  }

  /** Serialises index work in this process; other processes are followed through the journal. */
  readonly mutex = new AsyncMutex();
  /** The entries, packed (packed-table.ts): no JavaScript object per entry. */
  private readonly tables: Record<Kind, PackedTable> = { request: new PackedTable("request"), certificate: new PackedTable("certificate") };
  private dirs: Partial<Record<Kind, DirState>> = {};
  private invSize?: number;
  private readonly journal: JournalFile;
  /** When this process last read each directory's names; a new process starts from now, not from zero. */
  private readonly lastScan: Record<Kind, number> = { request: Date.now(), certificate: Date.now() };
  /** Bumped whenever a kind's entries change: store/index-query.ts's catalogs are rebuilt on it. */
  private readonly changes: Record<Kind, number> = { request: 0, certificate: 0 };
  /** Whether this process has read the index (refresh ran): lookups before that read the files themselves. */
  loaded = false;
  /** Files that are on disk but did not parse, by "kind/name", with the size:mtime seen. */
  private readonly unreadable = new Map<string, { kind: Kind; name: string; stamp: string }>();
  /** Kinds whose directory is being re-read in the background (confirmLater). */
  private readonly confirming = new Set<Kind>();
  /** signed/'s names read ahead of the first load (readNamesAhead), with the mtime seen before the read. */
  private namesAhead?: { mtimeNs: string; read: NamesRead };
  /**
   * Whether another fleetca process is inside the CA lock now (set by the store): it may have
   * written files whose journal lines are not appended yet. Seen mid-batch, its writes look
   * like another tool's, and each look cost a full re-read of the directory (below).
   */
  otherWriter: () => boolean = () => false;
  /** When a change was first left to another process's journal (see refresh), if one is. */
  private deferredSince?: number;
  /** Full comparisons of a directory with the index (reconcile) since this process started. */
  rescans = 0;

  private constructor(private readonly layout: Layout) {
    this.journal = new JournalFile(layout.journal);
  }

  /** Brings the index up to date with the journal and the directories. Call inside `mutex`. */
  async refresh(summarize: Summarize): Promise<void> {
    if (!this.loaded) this.readNamesAhead();
    await this.catchUp();
    // A first look answers from the directories whatever another process is doing: a CLI looks only once.
    const first = !this.loaded;
    this.loaded = true;
    // Sample every signal before reading names, so a change during the scan shows up next time.
    const inv = await sizeOf(this.layout.inventory);
    const pending: JournalRecord[] = [];
    // What this look saw of the directories and inventory.txt: kept only if still true at the end.
    const seen: Observation[] = [];
    let deferred: boolean | undefined;
    const deferring = () => !first && (deferred ??= this.deferring());
    for (const kind of KINDS) {
      const dirStat = statSync(this.layout.dirFor(kind), { bigint: true, throwIfNoEntry: false });
      if (!dirStat) {
        // No CA here (yet): nothing to list, and nothing to write a journal into.
        this.tables[kind].clear();
        this.changes[kind]++;
        continue;
      }
      const known = this.dirs[kind];
      const inPlaceSigning = kind === "certificate" && inv !== this.invSize;
      if (!known || known.mtimeNs !== dirStat.mtimeNs.toString() || inPlaceSigning) {
        if (!known || !deferring()) this.reconcile(kind, dirStat, true, summarize, pending, seen);
      } else if (!known.settled) {
        const now = Date.now();
        const settledNow = now - nsToMs(known.mtimeNs) >= SETTLE_MS;
        if (this.tables[kind].size >= BACKGROUND_SCAN.from) {
          if (settledNow) this.confirmLater(kind, known.mtimeNs, summarize);
        } else if (settledNow || now - this.lastScan[kind] >= RESCAN_MS) {
          this.reconcile(kind, dirStat, false, summarize, pending, seen);
        }
      }
    }
    this.dropNamesAhead();
    this.retryUnreadable(summarize, pending);
    for (const r of this.stillTrue(seen)) this.emit(r, pending);
    if (inv !== this.invSize && this.dirs.certificate && !deferring()) {
      for (const r of this.stillTrue([{ op: "inv", size: inv }])) this.emit(r, pending);
    }
    // Nothing looked changed: the next change starts a new wait.
    if (deferred === undefined) this.deferredSince = undefined;
    const live = this.tables.request.size + this.tables.certificate.size;
    try {
      await this.journal.append(pending);
      // Compact when most lines are history, or when an older fleetca left many JSON lines
      // (they load several times slower than the tab-separated ones; see journal-tsv.ts).
      if (this.journal.lineCount > 2 * live + 1000 || this.journal.jsonLines > 1000) await this.journal.compact(this.snapshot());
    } catch (err) {
      // A user who may read the CA but not write it (an auditor running `list`) still gets
      // an up-to-date answer; the index is just not saved for the next process.
      if (!isErrno(err, "EACCES", "EPERM", "EROFS")) throw err;
    }
  }

  /**
   * Runs `write` (which creates or removes `name`'s file) and records the result. Call
   * inside `mutex`. `write` returns the new file's stats, or undefined for a removal.
   * `inventoryLine` is appended to inventory.txt first: an audit line for a certificate
   * that a crash kept off the disk is better than a certificate missing from the audit.
   */
  async record(
    kind: Kind,
    name: string,
    entry: IndexEntry | undefined,
    write: () => Promise<{ size: number; mtimeMs: number } | undefined>,
    inventoryLine?: string,
  ): Promise<void> {
    await this.catchUp();
    const dir = this.layout.dirFor(kind);
    if ((await mtimeNs(dir)) === undefined) {
      if (!entry) return; // nothing to remove where there is no CA
      throw noCaError(this.layout.cadir, dir);
    }
    let inv: number | undefined;
    if (inventoryLine !== undefined) {
      const invBefore = this.invSize;
      const invAfter = (await appendLine(this.layout.inventory, inventoryLine, MODES.inventory)).size;
      // Exactly our line more than we knew of: no other signer appended, signed/ is still in step.
      if (invBefore !== undefined && invAfter === invBefore + Buffer.byteLength(inventoryLine)) inv = invAfter;
    }
    const before = await mtimeNs(dir);
    const st = await write();
    const after = await mtimeNs(dir);
    const known = this.dirs[kind];
    // Only when the directory was in step just before our write is its new mtime ours to record.
    const dirNow = known !== undefined && known.mtimeNs === before && after !== before ? after : undefined;
    const r: JournalRecord =
      st && entry
        ? { op: "put", kind, rec: { entry: makeEntry(kind, name, entry), size: st.size, mtimeMs: st.mtimeMs }, dir: dirNow, inv }
        : { op: "del", kind, name, dir: dirNow };
    this.apply(r);
    await this.journal.append([r]);
  }

  /**
   * record() for many files in one go (a batch of signed certificates): one inventory
   * append, the writes in parallel (puts before removals), one fsync per directory (so
   * `write` need not sync the directory itself), one journal append. The
   * directory and inventory markers go on the last record of their kind, so a reader that
   * applies the batch ends where record() would have left it. Call inside `mutex`.
   */
  async recordBatch(ops: BatchOp[], opts: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return;
    // sync: false when the batch is already in the commit journal (commit-journal.ts): no fsyncs here.
    const sync = opts.sync !== false;
    await this.catchUp();
    const kinds = [...new Set(ops.map((o) => o.kind))];
    // One stat per directory says both that it exists and its mtime just before the writes
    // (this code does nothing between the two that could change a directory).
    const before = new Map<Kind, string | undefined>();
    for (const kind of kinds) {
      const mtime = await mtimeNs(this.layout.dirFor(kind));
      if (mtime === undefined) throw noCaError(this.layout.cadir, this.layout.dirFor(kind));
      before.set(kind, mtime);
    }
    const lines = ops.flatMap((o) => (o.inventoryLine === undefined ? [] : [o.inventoryLine.endsWith("\n") ? o.inventoryLine : `${o.inventoryLine}\n`]));
    const appendInventory = async (): Promise<number | undefined> => {
      if (lines.length === 0) return undefined;
      const text = lines.join("");
      const invBefore = this.invSize;
      const invAfter = (await appendLine(this.layout.inventory, text, MODES.inventory, { sync })).size;
      return invBefore !== undefined && invAfter === invBefore + Buffer.byteLength(text) ? invAfter : undefined;
    };
    const puts = ops.filter((o) => o.entry);
    const dels = ops.filter((o) => !o.entry);
    const syncDirs = async (batch: BatchOp[]) => void (sync && (await Promise.all([...new Set(batch.map((o) => o.kind))].map((k) => fsyncDir(this.layout.dirFor(k))))));
    // The inventory lines and the certificate files are written side by side (one round of
    // fsyncs instead of two under the CA lock). A crash between them can leave a certificate
    // without its inventory line, the window Puppet Server's own CA has (it writes the
    // certificate first); the certificate, the index and the serial counter stay right.
    const [inv, ...stats] = await Promise.all([appendInventory(), ...puts.map((o) => o.write())]);
    // One fsync per directory for the whole batch (the writes skip their own), and the new
    // files are durable before any removal is: a crash never loses both a request and its certificate.
    if (dels.length > 0) {
      await syncDirs(puts);
      await Promise.all(dels.map((o) => o.write()));
    }
    const records: JournalRecord[] = [];
    puts.forEach((o, i) => {
      const st = stats[i];
      if (st) records.push({ op: "put", kind: o.kind, rec: { entry: makeEntry(o.kind, o.name, o.entry!), size: st.size, mtimeMs: st.mtimeMs } });
    });
    for (const o of dels) records.push({ op: "del", kind: o.kind, name: o.name });
    for (const kind of kinds) {
      const after = await mtimeNs(this.layout.dirFor(kind));
      const known = this.dirs[kind];
      // As in record(): the new mtime is ours to record only if the directory was in step just before.
      if (known === undefined || known.mtimeNs !== before.get(kind) || after === before.get(kind)) continue;
      const last = lastOf(records, (r) => (r.op === "put" || r.op === "del") && r.kind === kind);
      if (last?.op === "put" || last?.op === "del") last.dir = after;
    }
    const lastPut = lastOf(records, (r) => r.op === "put");
    if (lastPut?.op === "put" && inv !== undefined) lastPut.inv = inv;
    for (const r of records) this.apply(r);
    // The last directory fsync and the journal append overlap, saving one fsync round per
    // batch: the journal is a cache checked against the directories, so a record that got
    // to disk before its directory change did is corrected by the next refresh after a crash.
    await Promise.all([syncDirs(dels.length > 0 ? dels : puts), this.journal.append(records)]);
  }

  get(kind: Kind, name: string): IndexEntry | undefined {
    return this.tables[kind].get(name)?.entry;
  }

  /** The current certificate with this serial, if a name holds it. Call after refresh, inside `mutex`. */
  findBySerial(serial: bigint): IndexEntry | undefined {
    return this.tables.certificate.bySerial(serial);
  }

  /**
   * Sorted by name (code-unit order, not localeCompare: stable across locales), requests
   * before certificates of the same name. Entries are frozen, and made now from the packed
   * index: a caller walking a million of them should use sortedRows instead.
   */
  list(): IndexEntry[] {
    const req = this.tables.request.sorted();
    const cert = this.tables.certificate.sorted();
    const out = new Array<IndexEntry>(req.size + cert.size);
    let i = 0;
    let j = 0;
    let k = 0;
    let reqName = i < req.size ? req.name(i) : undefined;
    let certName = j < cert.size ? cert.name(j) : undefined;
    while (reqName !== undefined || certName !== undefined) {
      if (certName === undefined || (reqName !== undefined && reqName <= certName)) {
        out[k++] = req.entry(i++);
        reqName = i < req.size ? req.name(i) : undefined;
      } else {
        out[k++] = cert.entry(j++);
        certName = j < cert.size ? cert.name(j) : undefined;
      }
    }
    return out;
  }

  /** One kind's entries in name order, frozen now, read without an object per entry (store/index-query.ts). */
  sortedRows(kind: Kind): SortedRows {
    return this.tables[kind].sorted();
  }

  /** A number that changes whenever `kind`'s entries change. */
  changeCount(kind: Kind): number {
    return this.changes[kind];
  }

  /** One kind's entries, in no particular order. Entries are frozen. */
  entriesOf(kind: Kind): IndexEntry[] {
    const rows = this.tables[kind].sorted();
    return Array.from({ length: rows.size }, (_, i) => rows.entry(i));
  }

  private async catchUp(): Promise<void> {
    await this.journal.readNew(
      (bytes) => {
        this.tables.request.clear();
        this.tables.certificate.clear();
        // Nearly all of a journal is certificates' lines.
        this.tables.certificate.reserveFor(bytes);
        this.changes.request++;
        this.changes.certificate++;
        this.dirs = {};
        this.invSize = undefined;
      },
      (r) => this.apply(r),
      // The usual put line goes from the journal's bytes into its table, without a record.
      (buf, start, end) => {
        const kind = buf[start + 3] === 0x72 ? "request" : buf[start + 3] === 0x63 ? "certificate" : undefined;
        if (!kind || !this.tables[kind].putLine(buf, start, end)) return false;
        this.changes[kind]++;
        return true;
      },
    );
  }

  private apply(r: JournalRecord): void {
    if (r.op === "put" || r.op === "del") this.changes[r.kind]++;
    switch (r.op) {
      case "put":
        this.tables[r.kind].put(r.rec);
        if (r.dir !== undefined) this.dirs[r.kind] = { mtimeNs: r.dir, settled: false };
        if (r.inv !== undefined) this.invSize = r.inv;
        break;
      case "del":
        this.tables[r.kind].delete(r.name);
        if (r.dir !== undefined) this.dirs[r.kind] = { mtimeNs: r.dir, settled: false };
        break;
      case "dir":
        this.dirs[r.kind] = { mtimeNs: r.mtimeNs, settled: r.settled };
        break;
      case "inv":
        this.invSize = r.size;
        break;
    }
  }

  private emit(r: JournalRecord, pending: JournalRecord[]): void {
    this.apply(r);
    pending.push(r);
  }

  /**
   * The settle-time re-read of a large directory, in the background (see the header): its
   * names are read in batches outside the mutex, then, under it, kept only if the directory's
   * mtime is still `mtimeNs` (no write since, ours or another's).
   */
  private confirmLater(kind: Kind, mtimeNs: string, summarize: Summarize): void {
    if (this.confirming.has(kind)) return;
    this.confirming.add(kind);
    this.lastScan[kind] = Date.now();
    void this.namesMatch(kind, mtimeNs)
      .then((match) =>
        this.mutex.run(async () => {
          const dirStat = statSync(this.layout.dirFor(kind), { bigint: true, throwIfNoEntry: false });
          const known = this.dirs[kind];
          if (!dirStat || !known || known.settled || known.mtimeNs !== mtimeNs || dirStat.mtimeNs.toString() !== mtimeNs) return;
          const pending: JournalRecord[] = [];
          if (match) this.emit({ op: "dir", kind, mtimeNs, settled: true }, pending);
          else this.reconcile(kind, dirStat, false, summarize, pending);
          await this.journal.append(pending);
        }),
      )
      // Left unsettled: the next look after SETTLE_MS tries again.
      .catch(() => undefined)
      .finally(() => this.confirming.delete(kind));
  }

  /** Whether the directory holds exactly the names the index holds (an unreadable file counts as a difference). */
  private async namesMatch(kind: Kind, mtimeNs: string): Promise<boolean> {
    // Read on a worker thread (or ahead, while the mtime was already this one); compared by digests.
    const ahead = kind === "certificate" && this.namesAhead?.mtimeNs === mtimeNs ? this.namesAhead : undefined;
    if (kind === "certificate") this.dropNamesAhead(ahead);
    ahead?.read.keepAlive(true);
    const names = ahead ? await ahead.read.names : await readNamesOffThread(this.layout.dirFor(kind));
    return sameNames(names, this.tables[kind]);
  }

  /** A read ahead that the look it was started for did not use (the journal said otherwise) is ended; `kept` goes on. */
  private dropNamesAhead(kept?: { read: NamesRead }): void {
    if (this.namesAhead !== kept) this.namesAhead?.read.stop();
    this.namesAhead = undefined;
  }

  /**
   * Starts reading signed/'s names on a worker thread before the first load of the journal,
   * when the journal's tail says the directory is unsettled at the mtime it has now and old
   * enough for the settle-time check, which will then want those names (confirmLater): the
   * first `list` after the server wrote read a million names after the journal's load, where
   * the two can run side by side. A wrong guess costs a read whose result is dropped; the
   * names are used only for the mtime seen before they were read, as confirmLater's own read.
   * Until confirmLater wants them, the read does not keep a process from exiting.
   */
  private readNamesAhead(): void {
    this.dropNamesAhead();
    const dir = this.layout.dirFor("certificate");
    const st = statSync(dir, { bigint: true, throwIfNoEntry: false });
    // Small directories are compared at once, on the loop (~100 bytes of journal a name at least).
    const journalBytes = statSync(this.layout.journal, { throwIfNoEntry: false })?.size ?? 0;
    if (!st || journalBytes < BACKGROUND_SCAN.from * 100 || Date.now() - nsToMs(st.mtimeNs.toString()) < SETTLE_MS) return;
    const mark = this.journal.peekDirMark("certificate");
    if (!mark || mark.settled || mark.mtimeNs !== st.mtimeNs.toString()) return;
    const read = startNamesRead(dir);
    read.keepAlive(false);
    read.names.catch(() => undefined);
    this.namesAhead = { mtimeNs: mark.mtimeNs, read };
  }

  /**
   * Compares one directory with the index. Synchronous on purpose: fs.statSync costs ~5 us
   * here against ~30 us for the promise version, whose thread-pool round trip dominates;
   * 100,000 stats take 0.5 s instead of 3 s. This only runs after another tool changed the directory.
   */
  private reconcile(kind: Kind, dirStat: BigIntStats, statAll: boolean, summarize: Summarize, out: JournalRecord[], seen?: Observation[]): void {
    const dir = this.layout.dirFor(kind);
    this.lastScan[kind] = Date.now();
    this.rescans++;
    const onDisk: string[] = [];
    for (const file of readdirSync(dir)) {
      const name = file.startsWith(TEMP_PREFIX) ? undefined : nameOfPemFile(file);
      if (name !== undefined && isSafeName(name)) onDisk.push(name);
    }
    const { changed, gone } = this.tables[kind].rescan(
      onDisk,
      (name, held) => {
        const st = statSync(this.layout.pemPath(kind, name), { throwIfNoEntry: false });
        if (held) return !st || st.size !== held.size || st.mtimeMs !== held.mtimeMs;
        // Not in the index: read it, unless it is a file that did not parse and has not changed since.
        const bad = this.unreadable.get(`${kind}/${name}`);
        return !(bad && bad.stamp === stampOf(st));
      },
      statAll,
    );
    for (const name of gone) this.emit({ op: "del", kind, name }, out);
    // A file gone since the directory was read is removed by summarizeInto's failed open.
    for (const name of changed) this.summarizeInto(kind, name, summarize, out);
    const mtime = dirStat.mtimeNs.toString();
    const settled = Date.now() - nsToMs(mtime) >= SETTLE_MS;
    const known = this.dirs[kind];
    if (!known || known.mtimeNs !== mtime || known.settled !== settled) {
      const r: Observation = { op: "dir", kind, mtimeNs: mtime, settled };
      if (seen) seen.push(r);
      else this.emit(r, out);
    }
  }

  /**
   * Whether to leave this look's changes to another fleetca process's journal: it holds the
   * CA lock, so what changed is most likely its batch, written but not yet journaled. Only for
   * SETTLE_MS: a change another tool makes while fleetca processes keep taking the lock is
   * still found, that much later.
   */
  private deferring(): boolean {
    if (!this.otherWriter()) {
      this.deferredSince = undefined;
      return false;
    }
    this.deferredSince ??= Date.now();
    return Date.now() - this.deferredSince < SETTLE_MS;
  }

  /**
   * The observations still true now, just before they are journaled. A long re-read of a
   * directory leaves time for another process to write and journal a newer state; recording
   * the older one after it would put every process out of step with the directory, and
   * each would re-read it in full (at 100,000 certificates, half a second each time).
   */
  private stillTrue(seen: Observation[]): Observation[] {
    return seen.filter((r) =>
      r.op === "inv"
        ? statSync(this.layout.inventory, { throwIfNoEntry: false })?.size === r.size
        : statSync(this.layout.dirFor(r.kind), { bigint: true, throwIfNoEntry: false })?.mtimeNs.toString() === r.mtimeNs,
    );
  }

  private summarizeInto(kind: Kind, name: string, summarize: Summarize, out: JournalRecord[]): void {
    const key = `${kind}/${name}`;
    const { rec, stamp } = readSummary(kind, name, this.layout.pemPath(kind, name), summarize);
    if (rec) this.emit({ op: "put", kind, rec }, out);
    else if (stamp === undefined && this.tables[kind].has(name)) this.emit({ op: "del", kind, name }, out);
    if (stamp !== undefined) this.unreadable.set(key, { kind, name, stamp });
    else this.unreadable.delete(key);
  }

  /**
   * Files that did not parse may have been caught half-written in place, which changes no
   * directory mtime: re-stat just those (a handful at most) on every refresh.
   */
  private retryUnreadable(summarize: Summarize, out: JournalRecord[]): void {
    for (const [key, bad] of this.unreadable) {
      const st = statSync(this.layout.pemPath(bad.kind, bad.name), { throwIfNoEntry: false });
      if (!st) this.unreadable.delete(key);
      else if (stampOf(st) !== bad.stamp) this.summarizeInto(bad.kind, bad.name, summarize, out);
    }
  }

  /**
   * The current state as journal lines, for compaction: the markers, then each kind's
   * stored lines in name order (so the next load needs no sort).
   */
  private snapshot(): Buffer[] {
    const markers: JournalRecord[] = [];
    for (const kind of KINDS) {
      const d = this.dirs[kind];
      if (d) markers.push({ op: "dir", kind, mtimeNs: d.mtimeNs, settled: d.settled });
    }
    if (this.invSize !== undefined) markers.push({ op: "inv", size: this.invSize });
    const out: Buffer[] = [Buffer.from(markers.map((r) => `${encodeRecord(r)}\n`).join(""), "utf8")];
    for (const kind of KINDS) out.push(...this.tables[kind].lines((rec) => encodeRecord({ op: "put", kind, rec })));
    return out;
  }
}

/**
 * Reads and summarises a file written by another tool: `rec` on success, `stamp` (its
 * size and mtime) when it exists but does not parse, neither when it is gone.
 */
function readSummary(kind: Kind, name: string, path: string, summarize: Summarize): { rec?: IndexRecord; stamp?: string } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return {};
  }
  // Size and mtime from the descriptor we read, not the path, which may be replaced meanwhile.
  const st = fstatSync(fd);
  try {
    const pem = readFileSync(fd, "utf8");
    const entry = makeEntry(kind, name, summarize(name, kind, pem));
    return { rec: { entry, size: st.size, mtimeMs: st.mtimeMs } };
  } catch {
    // Not a PEM this CA understands (a stray file, a half-written one): leave it out of the index.
    return { stamp: stampOf(st) };
  } finally {
    closeSync(fd);
  }
}

function stampOf(st: { size: number; mtimeMs: number } | undefined): string | undefined {
  return st ? `${st.size}:${st.mtimeMs}` : undefined;
}

function nsToMs(ns: string): number {
  return Number(BigInt(ns) / 1_000_000n);
}

function lastOf<T>(xs: T[], pred: (x: T) => boolean): T | undefined {
  for (let i = xs.length - 1; i >= 0; i--) if (pred(xs[i]!)) return xs[i];
  return undefined;
}

// Synchronous stats (a few microseconds) rather than promises: they run inside the index
// mutex, where each awaited step waits for a busy server's event loop (see atomic.ts).
async function mtimeNs(dir: string): Promise<string | undefined> {
  return statSync(dir, { bigint: true, throwIfNoEntry: false })?.mtimeNs.toString();
}

async function sizeOf(path: string): Promise<number> {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}
