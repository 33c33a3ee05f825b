/**
 * A directory's file names read on a worker thread, handed back as one buffer: the names in
 * UTF-8, separated by NUL (which no file name holds). At 1,000,000 names, reading them
 * with readdir made a million strings on the event loop: ~2 s of CPU and ~190 MB of memory
 * touched for the first time, which the settle-time check of a large directory
 * (index-cache.ts) paid on the loop of a server between requests, and a one-shot `list`
 * before it could exit. The worker's strings stay in the worker; the caller compares the
 * names as bytes.
 *
 * The worker's code is a string evaluated in the worker: a worker thread does not get the
 * loader hooks the tests run TypeScript with, and it needs nothing but node:fs.
 */
import { Worker } from "node:worker_threads";
import { TEMP_PREFIX } from "./atomic.js";
import { isSafeName, nameOfPemFile } from "./layout.js";

/** The names an index holds (packed-table.ts's PackedTable). */
export interface NameSet {
  readonly size: number;
  has(name: string): boolean;
  /** has() for a name given as its UTF-8 bytes buf[at, at + len). */
  hasBytes(buf: Buffer, at: number, len: number): boolean;
}

const SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { readdirSync } = require("node:fs");
const text = readdirSync(workerData).join("\\0");
// Not from Buffer's shared pool, so that it can be handed over without a copy.
const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
bytes.write(text);
parentPort.postMessage(bytes, [bytes.buffer]);
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
  let held = 0;
  let seen = 0;
  for (let from = 0; from < names.length; ) {
    let end = names.indexOf(0, from);
    if (end < 0) end = names.length;
    const found = heldName(set, names, from, end);
    if (found < 0) return false;
    held += found;
    from = end + 1;
    if (++seen % 20_000 === 0) await new Promise((r) => setImmediate(r));
  }
  return held === set.size;
}

/**
 * 1 when the file names[from, end) is a PEM file of a name the set holds, -1 when of a name
 * it does not hold, 0 when it is no such file (a temporary file, a stray name). The usual
 * file ("<name>.pem", ASCII, not hidden, no backslash) is looked up by its bytes; any other
 * goes through the checks a directory's names always get (index-cache.ts's reconcile).
 */
function heldName(set: NameSet, names: Buffer, from: number, end: number): number {
  const len = end - from;
  if (len > 4 && names[from] !== 0x2e && names[end - 4] === 0x2e && names[end - 3] === 0x70 && names[end - 2] === 0x65 && names[end - 1] === 0x6d) {
    let usual = true;
    for (let k = from; k < end - 4; k++) {
      const b = names[k]!;
      if (b >= 0x80 || b === 0x5c) {
        usual = false;
        break;
      }
    }
    if (usual) return set.hasBytes(names, from, len - 4) ? 1 : -1;
  }
  const file = names.toString("utf8", from, end);
  const name = file.startsWith(TEMP_PREFIX) ? undefined : nameOfPemFile(file);
  if (name === undefined || !isSafeName(name)) return 0;
  return set.has(name) ? 1 : -1;
}
