/**
 * fleetca's archive format, for `ca backup` and `ca restore`:
 *
 *   fleetca-archive 1\n
 *   {header JSON}\n
 *   body
 *
 * The body is a gzip stream of records (4-byte big-endian length, a JSON description, then
 * the item's bytes), ending with a record that counts the items and carries the SHA-256 of
 * every record before it, so a truncated or altered archive is refused even unencrypted.
 * With a passphrase, the gzip stream is encrypted with AES-256-GCM (the header is its
 * additional authenticated data, the 16-byte tag ends the file) under a key derived by
 * scrypt, whose parameters and salt are in the header; a short key check in the header tells
 * a wrong passphrase from a damaged archive before anything is decrypted.
 *
 * Everything streams: an archive of a 100,000-certificate CA is never held in memory whole.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, scrypt, timingSafeEqual, type BinaryLike, type DecipherGCM } from "node:crypto";
import { Readable } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import { CaError } from "../errors.js";
import type { ArchiveItem } from "../store.js";

const MAGIC = "fleetca-archive 1\n";
/** scrypt cost: ~100 ms and 32 MiB here, per backup and per restore. */
const SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;
const TAG = 16;

/** Which part of the CA an item belongs to: the store's own items, or the server's ssldir. */
export type Section = "store" | "ssldir";
export interface SectionItem extends ArchiveItem {
  section: Section;
}

export interface ArchiveHeader {
  createdAt: string;
  /** The store kind that wrote the "store" section (ArchivableStore.archiveKind). */
  store: string;
  location: string;
  caFingerprint: string;
  /** Absent when the archive is not encrypted (the CA key is in it in clear). */
  encryption?: { kdf: "scrypt"; N: number; r: number; p: number; salt: string; cipher: "aes-256-gcm"; iv: string; check: string };
}

export interface WrittenArchive {
  items: number;
  /** SHA-256 of the records, as in the end record. */
  recordsSha256: string;
}

function deriveKey(passphrase: BinaryLike, e: { N: number; r: number; p: number; salt: string }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase, Buffer.from(e.salt, "base64"), 32, { N: e.N, r: e.r, p: e.p, maxmem: 128 * e.N * e.r * 2 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

const keyCheck = (key: Buffer) => createHmac("sha256", key).update("fleetca archive key check").digest().subarray(0, 8).toString("base64");

function damaged(why: string): CaError {
  return new CaError("invalid-request", `The archive is damaged or incomplete (${why}); nothing was changed. Use another copy of the backup.`);
}

async function* records(items: AsyncIterable<SectionItem>, done: (w: WrittenArchive) => void): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  let count = 0;
  const frame = (meta: object, data?: Uint8Array): Buffer[] => {
    const json = Buffer.from(JSON.stringify(meta));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(json.length);
    return data ? [len, json, Buffer.from(data.buffer, data.byteOffset, data.byteLength)] : [len, json];
  };
  // Records go to gzip in batches of ~256 kB: one write per record part (three per file)
  // was a trip through the thread pool each, and most of a 100,000-certificate backup's time.
  let batch: Buffer[] = [];
  let batched = 0;
  for await (const it of items) {
    const parts = frame({ section: it.section, path: it.path, type: it.type, mode: it.mode, size: it.data.byteLength }, it.data);
    for (const p of parts) {
      hash.update(p);
      batch.push(p);
      batched += p.length;
    }
    count++;
    if (batched >= 1 << 18) {
      yield Buffer.concat(batch, batched);
      batch = [];
      batched = 0;
    }
  }
  const sha = hash.digest("hex");
  yield Buffer.concat([...batch, ...frame({ end: true, items: count, sha256: sha })]);
  done({ items: count, recordsSha256: sha });
}

/**
 * The archive's bytes, to be written by the caller. `written` is filled in once the last
 * chunk has been produced.
 */
export async function* writeArchive(
  header: Omit<ArchiveHeader, "encryption">,
  items: AsyncIterable<SectionItem>,
  passphrase: string | undefined,
  written: (w: WrittenArchive) => void,
): AsyncGenerator<Buffer> {
  let full: ArchiveHeader = header;
  let key: Buffer | undefined;
  let iv: Buffer | undefined;
  if (passphrase !== undefined) {
    const salt = randomBytes(16).toString("base64");
    key = await deriveKey(passphrase, { ...SCRYPT, salt });
    iv = randomBytes(12);
    full = { ...header, encryption: { kdf: "scrypt", ...SCRYPT, salt, cipher: "aes-256-gcm", iv: iv.toString("base64"), check: keyCheck(key) } };
  }
  const head = Buffer.from(`${MAGIC}${JSON.stringify(full)}\n`);
  yield head;
  const gzip = Readable.from(records(items, written)).pipe(createGzip({ level: 6 }));
  if (!key || !iv) {
    for await (const chunk of gzip) yield chunk as Buffer;
    return;
  }
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(head);
  for await (const chunk of gzip) yield cipher.update(chunk as Buffer);
  yield cipher.final();
  yield cipher.getAuthTag();
}

/** Pulls exact byte counts out of a chunk stream without re-copying what it holds. */
class ByteReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Exactly n bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.have < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else {
        this.chunks.push(r.value);
        this.have += r.value.length;
      }
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.have = rest.length;
    return out;
  }

  /** Up to and including the next newline (at most `max` bytes). */
  async line(max: number): Promise<string | undefined> {
    for (;;) {
      const all = Buffer.concat(this.chunks);
      this.chunks = all.length > 0 ? [all] : [];
      const nl = all.indexOf(0x0a);
      if (nl >= 0) return (await this.read(nl + 1)).toString("utf8");
      if (this.ended || all.length > max) return undefined;
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else {
        this.chunks.push(r.value);
        this.have += r.value.length;
      }
    }
  }

  /** Everything left, as it arrives. */
  async *rest(): AsyncGenerator<Buffer> {
    for (const c of this.chunks) yield c;
    this.chunks = [];
    this.have = 0;
    if (this.ended) return;
    for (let r = await this.it.next(); !r.done; r = await this.it.next()) yield r.value;
  }
}

export interface OpenedArchive {
  header: ArchiveHeader;
  /** The items; throws a CaError when the archive turns out damaged (at the latest at its end). */
  items: AsyncGenerator<SectionItem>;
  /** After `items` is exhausted: what the end record said. */
  summary(): WrittenArchive;
}

/**
 * Opens an archive from its bytes: the header at once (a wrong or missing passphrase is
 * refused here), the items as they are read.
 */
export async function openArchive(chunks: AsyncIterable<Buffer>, passphrase: string | undefined): Promise<OpenedArchive> {
  const reader = new ByteReader(chunks[Symbol.asyncIterator]());
  const magic = await reader.line(64);
  if (magic !== MAGIC) throw new CaError("invalid-request", "This file is not a fleetca archive (it does not start with \"fleetca-archive 1\"); pass a file written by `fleetca ca backup`.");
  const headLine = await reader.line(1 << 20);
  let header: ArchiveHeader;
  try {
    header = JSON.parse(headLine ?? "") as ArchiveHeader;
  } catch {
    throw damaged("its header cannot be read");
  }
  let body: AsyncIterable<Buffer> = reader.rest();
  const enc = header.encryption;
  if (enc) {
    if (passphrase === undefined) {
      throw new CaError("invalid-request", "The archive is encrypted: give its passphrase with --passphrase-file FILE or the FLEETCA_BACKUP_PASSPHRASE environment variable.");
    }
    if (enc.kdf !== "scrypt" || enc.cipher !== "aes-256-gcm") throw damaged(`unknown encryption ${enc.kdf}/${enc.cipher}`);
    const key = await deriveKey(passphrase, enc);
    const want = Buffer.from(enc.check, "base64");
    const got = Buffer.from(keyCheck(key), "base64");
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      throw new CaError("invalid-request", "The passphrase is wrong for this archive: nothing was changed. Check --passphrase-file or FLEETCA_BACKUP_PASSPHRASE.");
    }
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(enc.iv, "base64"));
    decipher.setAAD(Buffer.from(`${MAGIC}${headLine}`));
    body = decrypted(body, decipher);
  }
  let summary: WrittenArchive | undefined;
  const items = parseRecords(body, (s) => (summary = s));
  return {
    header,
    items,
    summary: () => {
      if (!summary) throw new Error("the archive's items were not read to the end");
      return summary;
    },
  };
}

async function* decrypted(body: AsyncIterable<Buffer>, decipher: DecipherGCM): AsyncGenerator<Buffer> {
  // The last 16 bytes are the tag: hold back that much until the stream ends.
  let held = Buffer.alloc(0);
  for await (const chunk of body) {
    const all = held.length > 0 ? Buffer.concat([held, chunk]) : chunk;
    const cut = Math.max(0, all.length - TAG);
    if (cut > 0) yield decipher.update(all.subarray(0, cut));
    held = Buffer.from(all.subarray(cut));
  }
  if (held.length !== TAG) throw damaged("it ends before its authentication tag");
  decipher.setAuthTag(held);
  try {
    yield decipher.final();
  } catch {
    throw damaged("its authentication tag does not match its content");
  }
}

async function* parseRecords(body: AsyncIterable<Buffer>, done: (s: WrittenArchive) => void): AsyncGenerator<SectionItem> {
  const gunzip = createGunzip();
  const source = Readable.from(body);
  let sourceError: unknown;
  source.on("error", (e) => {
    sourceError = e;
    gunzip.destroy(e);
  });
  source.pipe(gunzip);
  const unzipped = (async function* () {
    try {
      for await (const c of gunzip) yield c as Buffer;
    } catch (e) {
      if (sourceError instanceof CaError) throw sourceError;
      if (e instanceof CaError) throw e;
      throw damaged(`it does not decompress: ${(e as Error).message}`);
    }
  })();
  const r = new ByteReader(unzipped);
  const hash = createHash("sha256");
  let count = 0;
  for (;;) {
    const len = await r.read(4);
    if (len.length < 4) throw damaged("it ends before its end record");
    const n = len.readUInt32BE(0);
    if (n > 1 << 20) throw damaged("a record is malformed");
    const json = await r.read(n);
    if (json.length < n) throw damaged("it ends inside a record");
    let meta: { section?: Section; path?: string; type?: "file" | "dir"; mode?: number; size?: number; end?: boolean; items?: number; sha256?: string };
    try {
      meta = JSON.parse(json.toString("utf8")) as typeof meta;
    } catch {
      throw damaged("a record is malformed");
    }
    if (meta.end) {
      const sha = hash.digest("hex");
      if (meta.items !== count || meta.sha256 !== sha) throw damaged("its content does not match its end record");
      if ((await r.read(1)).length > 0) throw damaged("there are bytes after its end record");
      done({ items: count, recordsSha256: sha });
      return;
    }
    const size = meta.size ?? -1;
    if (!Number.isSafeInteger(size) || size < 0 || (meta.section !== "store" && meta.section !== "ssldir") || typeof meta.path !== "string" || (meta.type !== "file" && meta.type !== "dir") || typeof meta.mode !== "number") {
      throw damaged("a record is malformed");
    }
    const data = await r.read(size);
    if (data.length < size) throw damaged("it ends inside a file");
    hash.update(len).update(json).update(data);
    count++;
    yield { section: meta.section, path: meta.path, type: meta.type, mode: meta.mode, data };
  }
}
