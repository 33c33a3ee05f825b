/**
 * Keeps the benchmark from rotting: the load generator enrolls 20 agents against a real
 * `fleetca server` on 127.0.0.1 (source run through tsx, EC CA made on first boot) and
 * every certificate must come back valid; the OCSP scenario runs in miniature against openssl's
 * responder (and fleetca's). No timing is asserted: figures belong in bench/results.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { makeIdentity } from "../bench/lib/agents.js";
import { parseResponse } from "../bench/lib/lean-http.js";
import { startLeanServer } from "../bench/lib/lean-server.js";
import { runLoad } from "../bench/lib/load.js";
import { memoryOf, startServer, type RunningServer } from "../bench/lib/server.js";
import { ocspScenarios } from "../bench/scenarios/ocsp.js";

const root = mkdtempSync(join(tmpdir(), "fleetca-bench-smoke-"));
let server: RunningServer | undefined;
after(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

test("the load generator enrolls 20 agents against fleetca server and checks every certificate", async () => {
  server = await startServer({
    cadir: join(root, "ca"),
    entry: ["--import", "tsx", join(import.meta.dirname, "helpers", "cli-entry.ts")],
    env: { FLEETCA_KEY_TYPE: "ec" },
    logFile: join(root, "server.log"),
    timeoutMs: 60_000,
  });
  assert.ok(memoryOf(server.pid).rssKb > 0);
  const agents = await Promise.all(Array.from({ length: 20 }, (_, i) => makeIdentity(`smoke-${i}.bench.test`, "ec")));
  const r = await runLoad({ url: server.url, agents, concurrency: 4, opensslSample: 5 });
  assert.deepEqual(r.errors, []);
  assert.equal(r.succeeded, 20);
  assert.equal(r.check.signatureOk, 20);
  assert.equal(r.check.keyMatch, 20);
  assert.equal(r.openssl.ok, r.openssl.sample);
  assert.ok(r.openssl.sample > 0);
  assert.ok(r.perSecond > 0 && r.latencyMs.p99 >= r.latencyMs.p50);
  // The server reserved serials in blocks while the agents enrolled; stopping cleanly gives
  // the unused ones back: CA 1, server 2, its OCSP responder 3, agents 4 to 23, next 24.
  await server.stop();
  server = undefined;
  assert.equal(readFileSync(join(root, "ca", "serial"), "utf8"), "0018");
});

test("the lean reference server issues real certificates and writes them with their journal and inventory lines", async () => {
  // The CA and TLS files the first test's server made; the lean server writes under root/lean.
  const lean = await startLeanServer(join(root, "ca"), "0-1");
  try {
    const agents = await Promise.all(Array.from({ length: 12 }, (_, i) => makeIdentity(`lean-${i}.bench.test`, "ec")));
    const r = await runLoad({ url: lean.url, agents, concurrency: 3, opensslSample: 4 });
    assert.deepEqual(r.errors, []);
    assert.equal(r.check.signatureOk, 12, "every certificate verifies against the CA");
    assert.equal(r.openssl.ok, r.openssl.sample);
    assert.equal(readdirSync(join(root, "lean", "signed")).length, 12);
    assert.equal(readFileSync(join(root, "lean", "inventory.txt"), "utf8").trim().split("\n").length, 12);
    const journal = readFileSync(join(root, "lean", "journal.log"), "utf8").trim().split("\n").flatMap((l) => JSON.parse(l) as { name: string }[]);
    assert.deepEqual(journal.map((e) => e.name).sort(), agents.map((a) => a.name).sort());
  } finally {
    await lean.stop();
  }
});

test("the load generator's HTTP parser reads Content-Length and chunked answers (Puppet Server sends both)", () => {
  const plain = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  assert.deepEqual(parseResponse(plain), { status: 200, body: "hello", consumed: plain.length, close: false });
  assert.equal(parseResponse(plain.subarray(0, plain.length - 1)), undefined, "waits for the whole body");
  const chunked = Buffer.from("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nNot \r\n5\r\nfound\r\n0\r\n\r\nHTTP/1.1");
  assert.deepEqual(parseResponse(chunked), { status: 404, body: "Not found", consumed: chunked.length - "HTTP/1.1".length, close: true });
  assert.equal(parseResponse(chunked.subarray(0, 70)), undefined);
  assert.throws(() => parseResponse(Buffer.from("SSH-2.0-OpenSSH\r\n\r\n")), /not an HTTP\/1.1 response/);
});

test("the OCSP scenario measures openssl's responder (and fleetca's, when it has one) and checks the answers", async () => {
  const [r] = await ocspScenarios({
    n: 6,
    durationMs: 300,
    concurrency: 2,
    command: "smoke",
    keyTypes: ["ec-p256"],
    label: "smoke-ocsp",
    limit: false,
    multi: false,
    extras: false,
    samples: 4,
    entry: ["--import", "tsx", join(import.meta.dirname, "helpers", "cli-entry.ts")],
  });
  type Side = { load: { answers: number; bad: number; wrongStatus: number; errorCount: number }; checks: { ok: number; sampled: number } };
  const data = r!.data as { reference: { uncached: Side }; fleetca?: { uncached: Side; cached: Side } };
  const right = (s: Side, who: string) => {
    assert.ok(s.load.answers > 0, `${who} answered`);
    assert.equal(s.load.bad + s.load.wrongStatus + s.load.errorCount, 0, `${who}: every answer successful, with the expected status`);
    assert.ok(s.checks.sampled > 0);
    assert.equal(s.checks.ok, s.checks.sampled, `${who}: openssl accepts every sampled answer`);
  };
  right(data.reference.uncached, "openssl's responder");
  // fleetca's rows are skipped in a build without its responder; the staleness check needs a longer run than this.
  if (data.fleetca) {
    right(data.fleetca.uncached, "fleetca, uncached");
    right(data.fleetca.cached, "fleetca, cached");
  }
  assert.ok(r!.rows.length > 0);
});
