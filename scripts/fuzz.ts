/**
 * The fuzzer's long form (test/fuzz/fuzzer.ts says what it checks):
 *
 *   node --import tsx scripts/fuzz.ts [--cases 100000] [--seed 1] [--only N] [--json]
 *
 * Exits 1 when it found anything, printing each finding with its case number; replay one
 * with the same --seed and --only N. CI runs a short form (test/fuzz/fuzz.test.ts).
 */
import { parseArgs } from "node:util";
import { runFuzz } from "../test/fuzz/fuzzer.js";

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: process.env.FLEETCA_FUZZ_CASES ?? "100000" },
    seed: { type: "string", default: process.env.FLEETCA_FUZZ_SEED ?? "1" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const cases = Number(values.cases);
const seed = Number(values.seed);
const only = values.only === undefined ? undefined : Number(values.only);
if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed) || (only !== undefined && !Number.isSafeInteger(only))) {
  console.error("usage: scripts/fuzz.ts [--cases N] [--seed S] [--only CASE] [--json]");
  process.exit(2);
}
const t0 = performance.now();
const report = await runFuzz({
  seed,
  cases,
  only,
  onProgress: (done, findings) => console.error(`  ${done} cases, ${findings} findings, ${Math.round((performance.now() - t0) / 1000)} s`),
});
if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  console.log(`seed ${report.seed}: ${report.cases} cases in ${(report.ms / 1000).toFixed(1)} s, ${report.findings.length} findings`);
  const parsers = Object.entries(report.byTarget).filter(([k]) => !/^[A-Z]+ \//.test(k));
  const endpoints = Object.entries(report.byTarget).filter(([k]) => /^[A-Z]+ \//.test(k));
  console.log(`parser cases: ${parsers.reduce((a, [, n]) => a + n, 0)} (${parsers.map(([k, n]) => `${k} ${n}`).join(", ")})`);
  console.log(`endpoint cases: ${endpoints.reduce((a, [, n]) => a + n, 0)} over ${endpoints.length} routes; statuses: ${Object.entries(report.statuses).sort().map(([k, n]) => `${k} x${n}`).join(", ")}`);
  console.log("most frequent refusal messages:");
  for (const [m, n] of Object.entries(report.messages).sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${String(n).padStart(6)}  ${m}`);
  for (const f of report.findings) console.log(`\nFINDING case ${f.caseNo} [${f.target}]: ${f.problem}\n  input: ${f.input}`);
}
process.exit(report.findings.length > 0 ? 1 : 0);
