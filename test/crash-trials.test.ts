/**
 * The short form of the crash trials (scripts/crash-trials.ts): three trials, SIGKILL during
 * `ca sign --all`, during enrollment through the server, and during a revoke over a CRL of
 * 5,000 entries; `ca check` after each. The long form (50 trials, every scenario) is run by hand:
 *   node --import tsx scripts/crash-trials.ts --trials 50 --seed 1
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "..");

test("crash trials, short form: no inconsistency, no serial twice, nothing acknowledged lost", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/crash-trials.ts", "--short", "--trials", "3", "--seed", "13"], { cwd: ROOT, encoding: "utf8", timeout: 280_000 });
  assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
  const summary = JSON.parse(r.stdout.trim().split("\n").pop()!) as { trials: number };
  assert.equal(summary.trials, 3);
  assert.match(r.stderr, /trial 3\/3 revoke killed at \d+ ms/);
});
