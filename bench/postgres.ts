/**
 * Enrollment through one and through two `fleetca server` processes on one PostgreSQL
 * database, with what the database itself spends per enrollment:
 *
 *   node --import tsx bench/postgres.ts [--n 400] [--c 8] [--key ec|rsa]
 *
 * Per run: enrollments/s (agents as in test/helpers/enroll-load.ts: fetch, submit, fetch),
 * and from the database: statements and transactions (pg_stat_statements, pg_stat_database),
 * WAL bytes (pg_current_wal_lsn before and after), and the CPU time of every PostgreSQL
 * process (/proc). Writes bench/results/postgres.json and bench/results/postgres.md.
 * The cluster is a throwaway one (scripts/pg-test-server.sh), fsync off, on the same 2 cores.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { enrollAll, makeCsrs } from "../test/helpers/enroll-load.js";
import { startPg, type PgServer } from "../test/helpers/pg-server.js";
import { startServer, type ServerProcess } from "../test/helpers/server-process.js";
import { RESULTS_DIR } from "./lib/paths.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "400" }, c: { type: "string", default: "8" }, key: { type: "string", default: "ec" } } });
const N = Number(values.n);
const C = Number(values.c);
const keyConfig = values.key === "rsa" ? "key_type: rsa\nkeylength: 2048\n" : "key_type: ec\n";

/** CPU seconds (user + system) of the postmaster and all its children. */
function pgCpuSeconds(db: PgServer): number {
  const pid = Number(fs.readFileSync(path.join(db.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
  const hz = 100;
  let ticks = 0;
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      if (Number(entry) !== pid && ppid !== pid) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended while we looked.
    }
  }
  return ticks / hz;
}

interface DbSnapshot {
  statements: number;
  xacts: number;
  walLsn: string;
  cpu: number;
}

async function snapshot(sql: pg.Client, db: PgServer): Promise<DbSnapshot> {
  const s = await sql.query<{ calls: string }>(
    "SELECT coalesce(sum(calls), 0)::text AS calls FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%pg_current_wal_lsn%'",
  );
  const x = await sql.query<{ x: string }>("SELECT (xact_commit + xact_rollback)::text AS x FROM pg_stat_database WHERE datname = current_database()");
  const w = await sql.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
  return { statements: Number(s.rows[0]!.calls), xacts: Number(x.rows[0]!.x), walLsn: w.rows[0]!.lsn, cpu: pgCpuSeconds(db) };
}

async function walBytes(sql: pg.Client, from: string, to: string): Promise<number> {
  const { rows } = await sql.query<{ d: string }>("SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS d", [to, from]);
  return Number(rows[0]!.d);
}

interface RunResult {
  servers: number;
  n: number;
  seconds: number;
  perSecond: number;
  perEnrollment: { statements: number; transactions: number; walBytes: number; dbCpuMs: number };
  unavailable: number;
}

async function run(servers: ServerProcess[], caPem: string, db: PgServer, sql: pg.Client, tag: string): Promise<RunResult> {
  const names = Array.from({ length: N }, (_, i) => `${tag}-${i}.example.com`);
  const csrs = makeCsrs(names);
  await sql.query("SELECT pg_stat_statements_reset()");
  await sql.query("SELECT pg_stat_reset()");
  const before = await snapshot(sql, db);
  let turn = 0;
  const started = process.hrtime.bigint();
  const report = await enrollAll(() => servers[turn++ % servers.length]!.url, caPem, csrs, C);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const afterSnap = await snapshot(sql, db);
  const wal = await walBytes(sql, before.walLsn, afterSnap.walLsn);
  return {
    servers: servers.length,
    n: N,
    seconds,
    perSecond: N / seconds,
    perEnrollment: {
      statements: (afterSnap.statements - before.statements) / N,
      transactions: (afterSnap.xacts - before.xacts) / N,
      walBytes: wal / N,
      dbCpuMs: ((afterSnap.cpu - before.cpu) * 1000) / N,
    },
    unavailable: report.unavailable.length,
  };
}

async function main(): Promise<void> {
  process.env.PG_TEST_SERVER_OPTS = "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on";
  const db = await startPg();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "fleetca-bench-pg-"));
  const servers: ServerProcess[] = [];
  const sql = new pg.Client({ connectionString: db.url });
  try {
    await sql.connect();
    await sql.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    const start = (i: number) =>
      startServer({ dir: path.join(root, `s${i}`), certname: `ca${i}.example.com`, config: `${keyConfig}autosign: true\ncsr_rate: 0\n`, args: ["--store", db.url] });
    servers.push(await start(1));
    const caPem = fs.readFileSync(path.join(servers[0]!.ssldir, "certs", "ca.pem"), "utf8");
    // A warm-up, so that neither run pays for first connections and JIT.
    await run(servers, caPem, db, sql, "warm");
    const one = await run(servers, caPem, db, sql, "one");
    servers.push(await start(2));
    const two = await run(servers, caPem, db, sql, "two");
    const result = { date: new Date().toISOString(), key: values.key, n: N, c: C, cores: os.cpus().length, one, two };
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    fs.writeFileSync(path.join(RESULTS_DIR, "postgres.json"), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await sql.end().catch(() => undefined);
    await db.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
