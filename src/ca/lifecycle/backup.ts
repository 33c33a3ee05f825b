/**
 * Backup and restore of a whole CA: the store's items (ArchivableStore) and the server's
 * ssldir, in one archive (archive.ts). The caller supplies the bytes' destination and source
 * (files, in the CLI); this module decides what goes in, verifies, and refuses.
 */
import { parseCertificateChain } from "../../pki/certificate.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { auditRecord } from "../audit.js";
import { CaError } from "../errors.js";
import type { Principal } from "../principal.js";
import type { ArchiveItem, CaStore } from "../store.js";
import { openArchive, writeArchive, type ArchiveHeader, type SectionItem, type WrittenArchive } from "./archive.js";

/** Where the server's own credentials live, as archive items (the CLI reads and writes the directory). */
export interface SsldirPort {
  readonly dir: string;
  exists(): boolean;
  export(): AsyncIterable<ArchiveItem>;
  import(items: AsyncIterable<ArchiveItem>): Promise<void>;
}

export interface BackupOptions {
  passphrase?: string;
  ssldir?: SsldirPort;
  now: Date;
  by: Principal;
}

export interface BackupResult extends WrittenArchive {
  header: ArchiveHeader;
  encrypted: boolean;
}

async function* sectioned(section: SectionItem["section"], items: AsyncIterable<ArchiveItem>): AsyncGenerator<SectionItem> {
  for await (const it of items) yield { ...it, section };
}

/**
 * Writes the archive through `sink` while holding the CA lock (no change lands half in it).
 * The "backup" audit record is appended first, so the archive says when it was taken.
 */
export async function backupCa(store: CaStore, sink: (chunks: AsyncIterable<Buffer>) => Promise<void>, o: BackupOptions): Promise<BackupResult> {
  if (!(await store.isInitialized())) throw new CaError("not-initialized", `No CA in ${store.location}: there is nothing to back up.`);
  await store.appendAudit([auditRecord(o.now, "backup", o.by, { detail: o.passphrase !== undefined ? "encrypted (scrypt, AES-256-GCM)" : "not encrypted" })]);
  return store.withLock(async () => {
    const material = await store.loadCaMaterial();
    const ca = parseCertificateChain(material.certPem)[0]!;
    const header: Omit<ArchiveHeader, "encryption"> = {
      createdAt: o.now.toISOString(),
      store: store.archiveKind,
      location: store.location,
      caFingerprint: fingerprint(ca.der),
    };
    const ssl = o.ssldir;
    const items = async function* () {
      yield* sectioned("store", store.exportArchive());
      if (ssl?.exists()) yield* sectioned("ssldir", ssl.export());
    };
    let written: WrittenArchive | undefined;
    await sink(writeArchive(header, items(), o.passphrase, (w) => (written = w)));
    if (!written) throw new Error("the archive was not written to its end");
    return { ...(written as WrittenArchive), header, encrypted: o.passphrase !== undefined };
  });
}

/**
 * Reads a whole archive and checks it (every record, the end record's count and digest, the
 * GCM tag). `expect` is what the writer reported, for the read-back after a backup.
 */
export async function verifyArchive(source: () => AsyncIterable<Buffer>, passphrase: string | undefined, expect?: WrittenArchive): Promise<{ header: ArchiveHeader; items: number; store: number; ssldir: number }> {
  const a = await openArchive(source(), passphrase);
  let store = 0;
  let ssldir = 0;
  for await (const it of a.items) {
    if (it.section === "store") store++;
    else ssldir++;
  }
  const s = a.summary();
  if (expect && (s.items !== expect.items || s.recordsSha256 !== expect.recordsSha256)) {
    throw new CaError("invalid-request", "The archive read back differs from what was written (the disk or filesystem changed it): do not rely on it; write it again elsewhere.");
  }
  return { header: a.header, items: s.items, store, ssldir };
}

export interface RestoreOptions {
  passphrase?: string;
  ssldir?: SsldirPort;
  /** Takes a backup of the current state first; called after the archive checked out whole. */
  backupCurrent: () => Promise<unknown>;
}

/**
 * Puts an archive back: checks it whole first (nothing changes for a damaged archive, a wrong
 * passphrase, or an archive of another kind of store), backs up what is there now, then
 * replaces the store (all or nothing) and the ssldir.
 */
export async function restoreCa(store: CaStore, source: () => AsyncIterable<Buffer>, o: RestoreOptions): Promise<{ header: ArchiveHeader; items: number }> {
  const checked = await verifyArchive(source, o.passphrase);
  if (checked.header.store !== store.archiveKind) {
    throw new CaError("invalid-request", `This archive holds a ${checked.header.store} store (${checked.header.location}) and cannot be restored into a ${store.archiveKind} store (${store.location}); pass the --cadir or --store it was taken from.`);
  }
  if (checked.store === 0) throw new CaError("invalid-request", "The archive holds no store items; nothing was changed.");
  if (await store.isInitialized()) await o.backupCurrent();
  const a = await openArchive(source(), o.passphrase);
  const ssl: ArchiveItem[] = [];
  // The store's import reads every item, the ssldir's included (kept aside, they are small),
  // so the archive's end record and tag are checked before the store commits.
  const storeItems = async function* () {
    for await (const it of a.items) {
      if (it.section === "store") yield it;
      else ssl.push(it);
    }
  };
  await store.withLock(() => store.importArchive(storeItems()));
  if (o.ssldir && ssl.length > 0) {
    await o.ssldir.import((async function* () {
      yield* ssl;
    })());
  }
  return { header: checked.header, items: checked.items };
}
