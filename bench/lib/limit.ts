/**
 * The machine's signing limit: private-key signatures per second with the CA's key on all
 * cores, measured in the same run as the figure it is compared with (this VM's speed
 * drifts by tens of percent from minute to minute, so only same-run ratios mean much).
 *
 * Two measurements: Node's crypto.sign in one worker thread per core (the same OpenSSL
 * calls fleetca makes, with Node's per-call overhead) and `openssl speed -multi`.
 */
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

// Plain JS in eval mode, so the workers need no TypeScript loader.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const crypto = require("node:crypto");
const key = crypto.createPrivateKey(workerData.keyPem);
const data = crypto.randomBytes(1000); // about a TBSCertificate's size
const hash = key.asymmetricKeyType === "ed25519" ? null : workerData.hash;
for (let i = 0; i < 5; i++) crypto.sign(hash, data, key); // warm up
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < workerData.ms) { crypto.sign(hash, data, key); n++; }
parentPort.postMessage({ n, ms: performance.now() - t0 });
`;

export interface SigningLimit {
  keyType: string;
  threads: number;
  /** crypto.sign in worker threads, all cores, signatures per second. */
  nodePerSecond: number;
  /** `openssl speed -multi <cores>`, signatures per second (summed over processes). */
  opensslPerSecond?: number;
  /** The figure throughput is compared with: the higher of the two, to be strict. */
  limitPerSecond: number;
}

export async function nodeSigningRate(keyPem: string, hash: string, threads = availableParallelism(), ms = 3000): Promise<number> {
  const runs = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<{ n: number; ms: number }>((resolve, reject) => {
          const w = new Worker(WORKER, { eval: true, workerData: { keyPem, hash, ms } });
          w.once("message", (m: { n: number; ms: number }) => {
            resolve(m);
            void w.terminate();
          });
          w.once("error", reject);
        }),
    ),
  );
  return runs.reduce((sum, r) => sum + (r.n / r.ms) * 1000, 0);
}

/** `openssl speed` algorithm names for a CA key: rsa4096, rsa2048, ecdsap256, ecdsap384. */
export function opensslAlgorithm(keyType: string): string | undefined {
  const m = /^(rsa)-(\d+)$|^ec-p-?(256|384)$/i.exec(keyType);
  if (!m) return undefined;
  return m[1] ? `rsa${m[2]}` : `ecdsap${m[3]}`;
}

export function opensslSigningRate(algorithm: string, processes = availableParallelism(), seconds = 3): number | undefined {
  const r = spawnSync("openssl", ["speed", "-seconds", String(seconds), "-multi", String(processes), algorithm], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  // The summary table's line for the algorithm: "... <sign/s> <verify/s>" as its last two numbers.
  const line = r.stdout.split("\n").reverse().find((l) => (algorithm.startsWith("rsa") ? /^rsa\s+\d+\s+bits/.test(l) : /ecdsa \(nistp/.test(l)));
  const nums = line?.trim().split(/\s+/).map(Number).filter((x) => Number.isFinite(x));
  return nums && nums.length >= 2 ? nums[nums.length - 2] : undefined;
}

/** keyType as fleetca names it in results: "rsa-4096", "ec-p256". */
export async function signingLimit(keyType: string, keyPem: string): Promise<SigningLimit> {
  const threads = availableParallelism();
  const nodePerSecond = Math.round(await nodeSigningRate(keyPem, "sha256", threads));
  const alg = opensslAlgorithm(keyType);
  const opensslPerSecond = alg ? opensslSigningRate(alg, threads) : undefined;
  const limit = Math.max(nodePerSecond, opensslPerSecond ?? 0);
  return { keyType, threads, nodePerSecond, opensslPerSecond: opensslPerSecond && Math.round(opensslPerSecond), limitPerSecond: limit };
}
