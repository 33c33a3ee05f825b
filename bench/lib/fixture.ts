/**
 * Large CA fixtures for the cost curve: N certificates written straight into a CA directory
 * the way fleetca itself leaves them (signed/NAME.pem, inventory.txt, serial, and the index
 * fleetca_index.jsonl with one record per certificate), without fsync and without the
 * server, so 1,000,000 of them take a few minutes rather than hours.
 *
 * How: the CA is P-256; every certificate is a real one, with its own serial and name and
 * the TBS fleetca's buildTbs makes for them, signed by the CA key, but all for one agent key
 * (a key per certificate would only cost key generation). The work is split in blocks of
 * BLOCK certificates over one worker thread per core (fixture-worker.ts: the TBS copied from
 * a template, the signature, the file, its index and inventory lines); this thread appends
 * the blocks' lines in serial order. The index records are encoded by the store's own encoder
 * with each file's size and mtime, and the directory and inventory markers are appended
 * last, so fleetca reads the index instead of parsing a million PEM files. `grow` adds to
 * what is there, so 10,000 -> 100,000 -> 1,000,000 reuses the earlier part.
 */
import { appendFileSync, existsSync, mkdirSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { buildSync } from "esbuild";
import { formatSerialHex } from "../../src/store/file/formats.js";
import { encodeRecord, type JournalRecord } from "../../src/store/file/journal.js";
import { syncFilesystem } from "../../src/store/file/commit-journal.js";
import type { AgentIdentity } from "./agents.js";
import { inProcessCa } from "./fleetca.js";
import { TMP_DIR } from "./paths.js";
import type { FixtureBlock, FixtureBlockDone, FixtureWorkerData } from "./fixture-worker.js";

export { fixtureName } from "./fixture-names.js";

const DAY_MS = 86_400_000;

/**
 * The worker is TypeScript, and a worker thread does not get the parent's tsx hooks on Node
 * 20: it is bundled by esbuild (a dev dependency) into one JavaScript file under bench/results/tmp.
 */
function workerScript(): string {
  const out = join(TMP_DIR, "fixture-worker.mjs");
  mkdirSync(TMP_DIR, { recursive: true });
  buildSync({ entryPoints: [fileURLToPath(new URL("./fixture-worker.ts", import.meta.url))], bundle: true, platform: "node", format: "esm", target: "node20", outfile: out, logLevel: "error" });
  return out;
}
const BLOCK = 5000;
/**
 * Disk per certificate: a 4 kB block for signed/NAME.pem (~0.9 kB of PEM), its directory
 * entry, ~190 bytes of index and ~80 of inventory; rounded up.
 */
export const FIXTURE_BYTES_PER_CERT = 4700;

/** Throws, before anything is written, when the filesystem holding `dir` cannot take `count` more certificates with room to spare. */
export function checkDiskFor(dir: string, count: number): void {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const need = Math.ceil(count * FIXTURE_BYTES_PER_CERT * 1.5);
  if (free < need) {
    throw new Error(
      `the curve's fixture needs ~${(need / 1e9).toFixed(1)} GB free for ${count.toLocaleString("en-US")} more certificates, ` +
        `and ${dir} has ${(free / 1e9).toFixed(1)} GB: free some space, or run a smaller curve (--n 100000)`,
    );
  }
  const files = fs.ffree;
  if (files < count * 1.2) throw new Error(`the curve's fixture needs ${count.toLocaleString("en-US")} inodes and ${dir} has ${files.toLocaleString("en-US")} free`);
}

/** Grows the CA at `cadir` from `from` to `to` certificates (serials 2 + i). */
export async function growFixture(cadir: string, from: number, to: number, agent: AgentIdentity, progress?: (done: number) => void): Promise<void> {
  if (to <= from) return;
  checkDiskFor(cadir, to - from);
  const material = await inProcessCa(cadir).current();
  const signed = join(cadir, "signed");
  mkdirSync(signed, { recursive: true });
  const indexPath = join(cadir, "fleetca_index.jsonl");
  if (!existsSync(indexPath)) writeFileSync(indexPath, `${JSON.stringify({ op: "hdr", gen: randomBytes(8).toString("hex") })}\n`);
  // Whole seconds, as the certificate's times hold them: the index's dates then match the files'.
  const second = (ms: number) => Math.floor(ms / 1000) * 1000;
  const now = Date.now();
  const data: FixtureWorkerData = {
    key: material.key!,
    signed,
    issuerDer: material.cert.subjectDer,
    caSpki: material.cert.spki,
    caIssuerDer: material.cert.issuerDer,
    caSerial: material.cert.serial,
    spki: Buffer.from(agent.spki, "base64"),
    notBefore: second(now - DAY_MS),
    notAfter: second(now + 5 * 365 * DAY_MS),
  };
  const blocks: FixtureBlock[] = [];
  for (let f = from, b = 0; f < to; f += BLOCK, b++) blocks.push({ block: b, from: f, to: Math.min(to, f + BLOCK) });
  const script = workerScript();
  const threads = Math.max(1, Math.min(availableParallelism(), blocks.length));
  const workers = Array.from({ length: threads }, () => new Worker(script, { workerData: data }));
  // Blocks finish out of order; their lines are appended in block order, so inventory.txt is in serial order.
  const done = new Map<number, FixtureBlockDone>();
  let nextToWrite = 0;
  let certificates = from;
  try {
    await new Promise<void>((resolve, reject) => {
      let handed = 0;
      const hand = (w: Worker) => {
        if (handed < blocks.length) w.postMessage(blocks[handed++]);
      };
      for (const w of workers) {
        w.on("error", reject);
        w.on("message", (m: FixtureBlockDone | { block: number; error: string }) => {
          if ("error" in m) return reject(new Error(`fixture block ${m.block}: ${m.error}`));
          done.set(m.block, m);
          while (done.has(nextToWrite)) {
            const b = done.get(nextToWrite)!;
            done.delete(nextToWrite);
            appendFileSync(join(cadir, "inventory.txt"), b.inventory);
            appendFileSync(indexPath, b.index);
            certificates = blocks[nextToWrite]!.to;
            nextToWrite++;
            if (progress && (certificates - from) % 50_000 < BLOCK) progress(certificates);
          }
          if (nextToWrite === blocks.length) resolve();
          else hand(w);
        });
        hand(w);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  writeFileSync(join(cadir, "serial"), formatSerialHex(BigInt(to + 2)));
  // The markers fleetca writes after it has seen the directories: nothing changed behind the index.
  const markers: JournalRecord[] = [
    { op: "dir", kind: "certificate", mtimeNs: statSync(signed, { bigint: true }).mtimeNs.toString(), settled: true },
    { op: "dir", kind: "request", mtimeNs: statSync(join(cadir, "requests"), { bigint: true }).mtimeNs.toString(), settled: true },
    { op: "inv", size: statSync(join(cadir, "inventory.txt")).size },
  ];
  appendFileSync(indexPath, markers.map((r) => `${encodeRecord(r)}\n`).join(""));
  // Written without fsync, the fixture's gigabytes would otherwise reach the disk during the
  // measurements: the first fsync after them (a revoke's) waits for all of it on ext4.
  await syncFilesystem(cadir);
}
