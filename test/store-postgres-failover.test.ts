/**
 * The database going away under enrollment load, with real PostgreSQL servers
 * (scripts/pg-test-server.sh) and a real `fleetca server`: the server restarted under it,
 * and a primary stopped hard with its synchronous standby promoted. What a client sees
 * (503 with Retry-After, the CA certificate and CRL still served), and what the CA holds
 * after (every certificate a client received, no serial twice, enrollment going on).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import pg from "pg";
import { anyName, enrollAll, makeCsrs, type LoadReport } from "./helpers/enroll-load.js";
import { tmpDir } from "./helpers/openssl.js";
import { pgUnavailable, startPg, startStandby } from "./helpers/pg-server.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";
import https from "node:https";

const skip = pgUnavailable();

const get = async (url: string, caPem: string) => (await fetchText(url, caPem)).status;

/** A GET that fails, rather than waits forever, when the server never answers (what a frozen database must not cause). */
const fetchText = (url: string, caPem: string) =>
  new Promise<{ status: number; body: string; retryAfter?: string }>((resolve, reject) => {
    const req = https.request(url, { ca: caPem, agent: false, checkServerIdentity: anyName, timeout: 90_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers["retry-after"] }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} in 90 s: the server hangs`)));
    req.on("error", reject);
    req.end();
  });

/** What the database holds against what clients received: every certificate present, each name and serial once. */
async function assertConsistent(url: string, report: LoadReport, names: string[]): Promise<void> {
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  try {
    const certs = new Map((await sql.query<{ name: string; pem: string }>("SELECT name, pem FROM fleetca.certificates")).rows.map((r) => [r.name, r.pem]));
    for (const e of report.enrolled) assert.equal(certs.get(e.name)?.trim(), e.certPem.trim(), `the certificate ${e.name} received is the one the database holds`);
    assert.deepEqual(report.enrolled.map((e) => e.name).sort(), [...names].sort());
    const inv = (await sql.query<{ subject: string; serial: string }>("SELECT subject, serial::text AS serial FROM fleetca.inventory")).rows;
    const perName = new Map<string, number>();
    for (const r of inv) perName.set(r.subject, (perName.get(r.subject) ?? 0) + 1);
    for (const n of names) assert.equal(perName.get(`/CN=${n}`), 1, `${n} issued exactly once`);
    assert.equal(new Set(inv.map((r) => r.serial)).size, inv.length, "no serial issued twice");
  } finally {
    await sql.end();
  }
}

describe("PostgreSQL store: the database failing under enrollment load", { skip }, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  async function serverOn(url: string): Promise<{ server: ServerProcess; caPem: string }> {
    const dir = tmpDir();
    const server = await startServer({ dir, certname: "ca.example.com", config: "key_type: ec\nautosign: true\n", args: ["--store", url] });
    cleanup.push(() => server.stop(), async () => fs.rmSync(dir, { recursive: true, force: true }));
    return { server, caPem: fs.readFileSync(path.join(server.ssldir, "certs", "ca.pem"), "utf8") };
  }

  // The database is set as some DBAs set theirs for speed (asynchronous commit): fleetca's own
  // sessions must commit durably anyway, or the hard stop undoes certificates clients received.
  test("the database restarted mid-load: clients get 503 with Retry-After, the CA certificate and CRL are still served, and the server recovers on its own", async () => {
    const db = await startPg({ serverOptions: "-c synchronous_commit=off" });
    cleanup.push(() => db.stop());
    const { server, caPem } = await serverOn(db.url);
    const names = Array.from({ length: 24 }, (_, i) => `load${i}.example.com`);
    const csrs = makeCsrs(names);
    let halted: Promise<void> | undefined;
    let outage: Promise<void> | undefined;
    const load = enrollAll(() => server.url, caPem, csrs, 4, (count) => {
      if (count !== 8) return;
      const running = (async () => {
        await (halted = db.halt());
        // While it is down: what needs no database is served from memory.
        assert.equal(await get(`${server.url}/puppet-ca/v1/certificate/ca`, caPem), 200);
        assert.equal(await get(`${server.url}/puppet-ca/v1/certificate_revocation_list/ca`, caPem), 200);
        await server.waitForLog((l) => typeof l.msg === "string" && /answered 503: The PostgreSQL store .* is unavailable/.test(l.msg));
        await db.resume();
      })();
      // Kept for after the load (a rejection now would be unhandled until then).
      outage = running.catch((e: unknown) => {
        void db.resume().catch(() => undefined);
        throw e;
      });
      outage.catch(() => undefined);
    });
    // A server that died under the load shows as clients giving up: say why.
    const report = await load.catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; server exit code ${server.child.exitCode}, stderr:\n${server.stderr().slice(-3000)}`);
    });
    await outage?.catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; server stderr:\n${server.stderr()}\nlast log lines:\n${JSON.stringify(server.logs().filter((l) => l.msg !== "request").slice(-15))}`);
    });
    assert.ok(halted, "the database was stopped during the load");
    assert.ok(report.unavailable.length > 0, "some requests met the stopped database");
    for (const u of report.unavailable) {
      assert.match(u.retryAfter ?? "", /^\d+$/);
      assert.match(u.body, /unavailable/);
    }
    await assertConsistent(db.url, report, names);
    assert.ok(
      server.logs().some((l) => l.msg === "store notice" && /synchronous_commit = off/.test(String(l.notice))),
      "the operator is told that the database's asynchronous commit is overridden",
    );
  });

  // A database that stops answering without closing its connections (a host lost, a network
  // cut): the pool's statements fail after the query timeout (3 s here, from the URL), so the
  // client gets a 503 that says so instead of a request that never ends.
  test("the database frozen with its connections open: requests get 503 saying no answer came, what needs no database is served, and enrollment resumes when it answers", async () => {
    const db = await startPg();
    cleanup.push(() => db.stop());
    const { server, caPem } = await serverOn(`${db.url}?query_timeout=3000`);
    const csrs = makeCsrs(["before.example.com", "frozen.example.com"]);
    await enrollAll(() => server.url, caPem, new Map([...csrs].slice(0, 1)), 1);
    await db.freeze();
    let thawed = false;
    try {
      const r = await fetchText(`${server.url}/puppet-ca/v1/certificate/frozen.example.com`, caPem);
      assert.equal(r.status, 503, r.body);
      assert.match(r.retryAfter ?? "", /^\d+$/);
      assert.match(r.body, /unavailable \(connected, but no answer to a statement within 3 s/);
      assert.equal(await get(`${server.url}/puppet-ca/v1/certificate/ca`, caPem), 200);
      assert.equal(await get(`${server.url}/puppet-ca/v1/certificate_revocation_list/ca`, caPem), 200);
      await server.waitForLog((l) => typeof l.msg === "string" && /answered 503: .* no answer to a statement within 3 s/.test(l.msg));
      await db.thaw();
      thawed = true;
    } finally {
      if (!thawed) await db.thaw();
    }
    const { enrolled } = await enrollAll(() => server.url, caPem, new Map([...csrs].slice(1)), 1);
    assert.deepEqual(enrolled.map((e) => e.name), ["frozen.example.com"]);
    await assertConsistent(db.url, { enrolled, unavailable: [] }, ["frozen.example.com"]);
  });

  // The "hang after the promotion" once seen here (about one run in six) was the server dying
  // of the lost connections (an unhandled pg client error); it runs in CI now, in a short form.
  // FLEETCA_PG_FAILOVER=1: a longer load, with the stop later in it.
  const long = process.env.FLEETCA_PG_FAILOVER === "1";
  test("the primary stopped hard and its synchronous standby promoted: fleetca finds the new primary, loses no certificate, repeats no serial, and enrolls on", async () => {
    const primary = await startPg();
    cleanup.push(() => primary.stop());
    const standby = await startStandby(primary);
    cleanup.push(() => standby.stop());
    const hostOf = (u: string) => new URL(u).host;
    const both = primary.url.replace(hostOf(primary.url), `${hostOf(primary.url)},${hostOf(standby.url)}`) + "?target_session_attrs=read-write";
    const { server, caPem } = await serverOn(both);
    const names = Array.from({ length: long ? 64 : 16 }, (_, i) => `fail${i}.example.com`);
    const stopAt = long ? 24 : 6;
    let afterPromotion = 0;
    let promoted = false;
    let failover: Promise<void> | undefined;
    const report = await enrollAll(() => server.url, caPem, makeCsrs(names), 4, (count) => {
      if (promoted) afterPromotion++;
      if (count !== stopAt) return;
      failover = (async () => {
        await primary.halt();
        await standby.promote();
        promoted = true;
      })();
    });
    await failover;
    assert.ok(promoted);
    assert.ok(afterPromotion > 0, "enrollment went on after the promotion");
    await server.waitForLog((l) => typeof l.msg === "string" && /answered 503/.test(l.msg), 1000).catch(() => undefined);
    await assertConsistent(standby.url, report, names);
  });
});
