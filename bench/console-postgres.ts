/**
 * The console's list queries on the PostgreSQL store at 100,000 certificates (1% revoked) and
 * 1,000 pending requests: rows inserted by SQL (complete summaries, so nothing is parsed), then
 * each query timed through PostgresStore.queryIndex, and the plan of one page shown, so the
 * indexes the queries rely on are seen in use. Prints; writes nothing.
 *
 *   node --import tsx bench/console-postgres.ts [--n 100000] [--calls 20]
 */
import { parseArgs } from "node:util";
import pg from "pg";
import type { IndexQuery } from "../src/ca/store.js";
import { summarize } from "../src/ca/summarize.js";
import { PostgresStore } from "../src/store/postgres/index.js";
import { startPg } from "../test/helpers/pg-server.js";

const { values } = parseArgs({ options: { n: { type: "string" }, calls: { type: "string" } } });
const N = Number(values.n ?? 100_000);
const CALLS = Number(values.calls ?? 20);

const server = await startPg();
try {
  const store = await PostgresStore.open(server.url, { passphrase: null });
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  await c.query(
    `INSERT INTO fleetca.certificates (name, pem, serial, not_before, not_after, sha256)
     SELECT 'agent-' || lpad(i::text, 6, '0') || '.example.com', 'x', i + 1, now(), now() + (i % 730) * interval '1 day', 'AB' FROM generate_series(1, $1::int) AS i`,
    [N],
  );
  await c.query(`INSERT INTO fleetca.requests (name, pem, sha256) SELECT 'pending-' || lpad(i::text, 5, '0') || '.test', 'x', 'AB' FROM generate_series(1, 1000) AS i`);
  await c.query("ANALYZE");
  const revoked = new Set(Array.from({ length: Math.floor(N / 100) }, (_, i) => BigInt(i * 100 + 52)));
  const base: IndexQuery = { states: ["signed", "revoked"], sort: "name", descending: false, offset: 0, limit: 50, revoked };
  const cases: [string, Partial<IndexQuery>][] = [
    ["by name", {}], ["by name, descending", { descending: true }], ["by expiry, descending", { sort: "notAfter", descending: true }],
    ["by serial, page 11", { sort: "serial", offset: 500 }], ["by state, descending", { sort: "state", descending: true }],
    ["signed only, by expiry", { states: ["signed"], sort: "notAfter" }], ["revoked only", { states: ["revoked"] }],
    ["search", { search: "agent-01234" }], ["expiring within 30 days", { expiresBefore: new Date(Date.now() + 30 * 86400e3) }],
    ["last page", { offset: N - 50 }], ["pending, page of 200", { states: ["requested"], limit: 200 }],
  ];
  for (const [label, q] of cases) {
    const xs: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t = performance.now();
      await store.queryIndex({ ...base, ...q }, summarize);
      xs.push(performance.now() - t);
    }
    xs.sort((a, b) => a - b);
    console.log(`${label.padEnd(26)} median ${xs[xs.length >> 1]!.toFixed(1)} ms, p95 ${xs[Math.ceil(xs.length * 0.95) - 1]!.toFixed(1)} ms`);
  }
  const plan = await c.query(`EXPLAIN SELECT name FROM fleetca.certificates ORDER BY not_after DESC NULLS LAST, name COLLATE "C" ASC LIMIT 50`);
  console.log(`plan of a page by expiry:\n${plan.rows.map((r: Record<string, string>) => `  ${r["QUERY PLAN"]}`).join("\n")}`);
  await c.end();
  await store.close();
} finally {
  await server.stop();
}
