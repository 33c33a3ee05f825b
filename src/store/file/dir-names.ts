/**
 * A directory's file names read on a worker thread, handed back as one buffer: the names in
 * UTF-8, separated by NUL (which no file name holds). At 1,000,000 names, reading them
 * with readdir made a million strings on the event loop: ~2 s of CPU and ~190 MB of memory
 * touched for the first time, which the settle-time check of a large directory
 * (index-cache.ts) paid on the loop of a server between requests, and a one-shot `list`
 * before it could exit. The worker writes each name into the buffer as it reads it (0.9 s of
 * CPU at 1M); the caller compares the names as bytes.
 *
 * The worker's code is a string evaluated in the worker: a worker thread does not get the
 * loader hooks the tests run TypeScript with, and it needs nothing but node:fs.
 */
import { Worker } from "node:worker_threads";
import { TEMP_PREFIX } from "./atomic.js";
import { isSafeName, nameOfPemFile } from "./layout.js";

/** The names an index holds (packed-table.ts's PackedTable), as nameDigest() sums them. */
export interface NameSet {
  nameDigest(): NameDigest;
}

/**
 * A set of names summed up: how many, and two sums (mod 2^32) of two 32-bit hashes of each
 * name's UTF-8 bytes. Two sets with the same digest hold the same names but with a chance of
 * about 2^-64 for sets that differ by accident (a file dropped, one removed). Sums, not a
 * lookup per name: comparing a million directory names with the index one by one was ~1.5 s
 * of cache and TLB misses on the event loop (every lookup lands on random memory), where
 * both sides' digests are one pass each over bytes in order.
 */
export interface NameDigest {
  count: number;
  a: number;
  b: number;
}

/** Adds the name at buf[at, at + len) to `d`. */
export function addName(d: NameDigest, buf: Uint8Array, at: number, len: number): void {
  // FNV-1a, and a second hash from another basis with a final mix, so that the two are not one.
  let h = 0x811c9dc5;
  let g = 0x9747b28c;
  for (let i = at; i < at + len; i++) {
    const c = buf[i]!;
    h = Math.imul(h ^ c, 0x01000193);
    g = Math.imul(g ^ c, 0x5bd1e995);
    g ^= g >>> 15;
  }
  d.count++;
  d.a = (d.a + (h >>> 0)) >>> 0;
  d.b = (d.b + (Math.imul(g ^ (g >>> 13), 0xc2b2ae35) >>> 0)) >>> 0;
}

const SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { opendirSync } = require("node:fs");
// The lowest priority, for this thread only (on Linux a nice value is a thread's): the check
// is not urgent, and at 1,000,000 names its second of CPU, at the same priority as the event
// loop, doubled a server's enrollment latency on two cores while it ran (bench/results, curve).
try {
  require("node:os").setPriority(19);
} catch {
  // A platform without per-thread priorities: read at the usual one.
}
// Entry by entry into one buffer: readdir's array of a million strings, joined, cost 2.4 s of
// CPU here against 0.9 s (and "." and ".." are left out either way).
const dir = opendirSync(workerData, { bufferSize: 1024 });
// Not from Buffer's shared pool, so that it can be handed over without a copy.
let bytes = Buffer.allocUnsafeSlow(1 << 20);
let at = 0;
try {
  for (let entry = dir.readSync(), first = true; entry !== null; entry = dir.readSync(), first = false) {
    const name = entry.name;
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    const room = at + 3 * name.length + 1;
    if (room > bytes.length) {
      const more = Buffer.allocUnsafeSlow(Math.max(2 * bytes.length, room));
      bytes.copy(more, 0, 0, at);
      bytes = more;
    }
    if (!first) bytes[at++] = 0;
    at += bytes.write(name, at, "utf8");
  }
} finally {
  dir.closeSync();
}
parentPort.postMessage(bytes.subarray(0, at), [bytes.buffer]);
`;

/** The names in `dir`, NUL-separated UTF-8 (no NUL after the last); rejects when the directory cannot be read. */
export function readNamesOffThread(dir: string): Promise<Buffer> {
  return startNamesRead(dir).names;
}

/** A read of a directory's names under way. */
export interface NamesRead {
  readonly names: Promise<Buffer>;
  /** Whether the process waits for the read before it exits (it does, unless told otherwise: a read ahead need not). */
  keepAlive(on: boolean): void;
  /** Ends the read (its names are not wanted after all). */
  stop(): void;
}

export function startNamesRead(dir: string): NamesRead {
  const worker = new Worker(SOURCE, { eval: true, workerData: dir });
  const names = new Promise<Buffer>((resolve, reject) => {
    worker.once("message", (m: Uint8Array) => resolve(Buffer.from(m.buffer, m.byteOffset, m.length)));
    worker.once("error", reject);
    // After the message this settles nothing; before it, the worker died without an answer.
    worker.once("exit", (code) => reject(new Error(`reading the names in ${dir} stopped (exit ${code})`)));
  });
  return { names, keepAlive: (on) => (on ? worker.ref() : worker.unref()), stop: () => void worker.terminate() };
}

/**
 * Whether the PEM files among `names` (readNamesOffThread's) are exactly the set's names;
 * other files (temporary ones, strays) do not count. Yields to the event loop every 20,000
 * names: a server compares them between requests.
 */
export async function sameNames(names: Buffer, set: NameSet): Promise<boolean> {
  const onDisk: NameDigest = { count: 0, a: 0, b: 0 };
  let seen = 0;
  const n = names.length;
  for (let from = 0; from < n; ) {
    // One pass finds the name's end and whether it is the usual file (bytes, not a native search per name).
    let usual = names[from] !== 0x2e;
    let end = from;
    for (; end < n; end++) {
      const b = names[end]!;
      if (b === 0) break;
      if (b >= 0x80 || b === 0x5c) usual = false;
    }
    addPemName(onDisk, names, from, end, usual);
    from = end + 1;
    if (++seen % 20_000 === 0) await new Promise((r) => setImmediate(r));
  }
  const held = set.nameDigest();
  return onDisk.count === held.count && onDisk.a === held.a && onDisk.b === held.b;
}

/**
 * Adds to `d` the certname of the file names[from, end) when it is a PEM file of one; a
 * temporary file or a stray name is left out. The usual file ("<name>.pem", ASCII, not
 * hidden, no backslash: `usual` says the last three) is taken from its bytes; any other goes
 * through the checks a directory's names always get (index-cache.ts's reconcile).
 */
function addPemName(d: NameDigest, names: Buffer, from: number, end: number, usual: boolean): void {
  const len = end - from;
  if (usual && len > 4 && names[end - 4] === 0x2e && names[end - 3] === 0x70 && names[end - 2] === 0x65 && names[end - 1] === 0x6d) {
    addName(d, names, from, len - 4);
    return;
  }
  const file = names.toString("utf8", from, end);
  const name = file.startsWith(TEMP_PREFIX) ? undefined : nameOfPemFile(file);
  if (name === undefined || !isSafeName(name)) return;
  const bytes = Buffer.from(name, "utf8");
  addName(d, bytes, 0, bytes.length);
}
