/**
 * Pinning for the one-core measurements: the server on one core (`taskset -c 0`), this
 * process (the load generator) on another, and the one-core signing limit measured with
 * `taskset -c 0 openssl speed` in the same run. With the load generator off the server's
 * core, the server's CPU per enrollment and its share of one core's signing limit no
 * longer depend on how much the client costs.
 */
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { opensslAlgorithm } from "./limit.js";

/** Restricts every thread of this process to `cpus` (taskset -a -p); returns the previous list. */
export function pinSelf(cpus: string): string {
  const before = spawnSync("taskset", ["-p", "-c", String(process.pid)], { encoding: "utf8" }).stdout;
  const prev = /:\s*([\d,-]+)\s*$/.exec(before)?.[1] ?? `0-${availableParallelism() - 1}`;
  const r = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(process.pid)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${cpus} failed: ${r.stderr}`);
  return prev;
}

/** Signatures per second of `openssl speed` for the key type on the given cores (one process per core). */
export function pinnedOpensslRate(keyType: string, cpus: string, seconds = 3): number {
  const alg = opensslAlgorithm(keyType);
  if (!alg) throw new Error(`no openssl speed algorithm for ${keyType}`);
  const cores = countCores(cpus);
  const args = ["-c", cpus, "openssl", "speed", "-seconds", String(seconds), ...(cores > 1 ? ["-multi", String(cores)] : []), alg];
  const r = spawnSync("taskset", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`taskset ${args.join(" ")} failed: ${r.stderr.slice(0, 300)}`);
  const line = r.stdout.split("\n").reverse().find((l) => (alg.startsWith("rsa") ? /^rsa\s+\d+\s+bits/.test(l) : /ecdsa \(nistp/.test(l)));
  const nums = line?.trim().split(/\s+/).map(Number).filter((x) => Number.isFinite(x));
  if (!nums || nums.length < 2) throw new Error(`could not read openssl speed's output for ${alg}`);
  return nums[nums.length - 2]!;
}

/** "0" -> 1, "0,1" -> 2, "0-3" -> 4. */
export function countCores(cpus: string): number {
  return cpus.split(",").reduce((n, part) => {
    const [a, b] = part.split("-").map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}
