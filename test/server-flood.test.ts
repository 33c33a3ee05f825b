/**
 * Flood protection for certificate submissions (src/server/flood.ts): a token bucket per
 * source address (csr_rate, csr_burst) answered with 429 and Retry-After, a cap on pending
 * requests in total (max_pending_requests) answered with 503, nothing stored either way,
 * one log line per source per minute. A flood of 20,000 PUTs from one address leaves the
 * pending list, memory and another client's latency within bounds (figures printed as test
 * diagnostics); a real Puppet agent polling with --waitforcert is never limited.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { Worker } from "node:worker_threads";
import { csrToPem, parseCsrPem, verifyCsrSignature } from "../src/pki/csr.js";
import { bitString, integer, seq, tlv } from "../src/pki/der.js";
import { generateKeyPair, signatureSchemeFor, signSync, spkiDer } from "../src/pki/keys.js";
import { cnName } from "../src/pki/name.js";
import { sourceKey, SubmissionLimiter } from "../src/server/flood.js";
import { fleetcaProcess } from "./helpers/cli.js";
import { httpsRequest, type HttpsResult } from "./helpers/https-client.js";
import { tmpDir } from "./helpers/openssl.js";
import { makeAgent, puppetMissing, puppetSsl } from "./helpers/puppet.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";
import { EC, makeCsr, memoryLogger, testSettings, V1, type Fixture, makeFixture } from "./helpers/server-fixture.js";

const put = (f: Fixture, name: string, csrPem: string, from: string) =>
  f.app.inject({ method: "PUT", url: `${V1}/certificate_request/${name}`, payload: csrPem, headers: { "content-type": "text/plain" }, remoteAddress: from });

/** The flooding client, run in a worker thread: PUTs every CSR over `connections` keep-alive connections, answers the statuses. */
const FLOODER = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const { port, path, csrs, connections } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const statuses = {};
let next = 0;
const send = (i) => new Promise((resolve, reject) => {
  const req = http.request({ host: "127.0.0.1", port, method: "PUT", path: path + i + ".test", agent, headers: { "content-type": "text/plain" } }, (res) => {
    res.resume();
    res.on("end", () => resolve(res.statusCode));
  });
  req.on("error", reject);
  req.end(csrs[i]);
});
const run = async () => {
  while (next < csrs.length) {
    const status = await send(next++);
    statuses[status] = (statuses[status] || 0) + 1;
  }
};
Promise.all(Array.from({ length: connections }, run)).then(() => { agent.destroy(); parentPort.postMessage(statuses); });
`;

// A full collection before and after the flood, so the heap figures are what is retained.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

const pendingCount = async (f: Fixture) => (await f.ca.entries("requested")).length;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

describe("the submission limiter", () => {
  test("a token bucket per source: a burst, then the rate; Retry-After says when a token is back", async () => {
    let now = 0;
    const { logs, log } = memoryLogger();
    const settings = testSettings({ csrRate: 2, csrBurst: 3, maxPendingRequests: 0 });
    const l = new SubmissionLimiter({ settings: () => settings, log, countPending: async () => 0, now: () => now });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await l.admit("10.0.0.1", true), undefined, `burst ${i}`);
      const refused = await l.admit("10.0.0.1", true);
      assert.equal(refused?.status, 429);
      assert.equal(refused?.retryAfter, 1);
      assert.match(refused!.message, /^Too many certificate requests from 10\.0\.0\.1: at most 2 per second \(csr_rate\) after a burst of 3 \(csr_burst\); nothing was stored\. Try again in 1 second\.$/);
      assert.equal(await l.admit("10.0.0.2", true), undefined, "another source has its own bucket");
      now += 500; // one token back at 2/s
      assert.equal(await l.admit("10.0.0.1", true), undefined);
      assert.equal((await l.admit("10.0.0.1", true))?.status, 429);
      // Many more refusals within the minute: one line for the first, the rest counted.
      for (let i = 0; i < 50; i++) await l.admit("10.0.0.1", true);
      let lines = logs.filter((x) => x.source === "10.0.0.1");
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.refused, 1);
      now += 60_000;
      l.sweep();
      lines = logs.filter((x) => x.source === "10.0.0.1");
      assert.equal(lines.length, 2, "the rest reported a minute later, in one line");
      assert.equal(lines[1]!.refused, 51);
      l.sweep();
      assert.equal(l.tracked, 1, "kept a minute after its report, so a pause does not reset the once-a-minute report");
      now += 60_000;
      l.sweep();
      assert.equal(l.tracked, 0, "then forgotten: idle, its bucket full again");
    } finally {
      l.stop();
    }
  });

  test("the pending cap: 503 once the CA holds max_pending_requests; renewals are not capped", async () => {
    const { log } = memoryLogger();
    const settings = testSettings({ csrRate: 0, maxPendingRequests: 5 });
    let pending = 4;
    const l = new SubmissionLimiter({ settings: () => settings, log, countPending: async () => pending, now: () => 0 });
    try {
      // Two at once on a count of 4: the first is admitted (and counted: 5), the second refused.
      const [first, r] = await Promise.all([l.admit("10.0.0.1", true), l.admit("10.0.0.2", true)]);
      assert.equal(first, undefined);
      assert.equal(r?.status, 503);
      assert.equal(r?.retryAfter, 60);
      assert.match(r!.message, /^The CA holds 5 pending certificate requests, its limit \(max_pending_requests\); nothing was stored\./);
      assert.equal(await l.admit("10.0.0.1", false), undefined, "a renewal adds no pending request");
      pending = 0;
    } finally {
      l.stop();
    }
  });

  test("memory is bounded under address spray: at most maxSources tracked", async () => {
    const { logs, log } = memoryLogger();
    const settings = testSettings({ csrRate: 1, csrBurst: 1, maxPendingRequests: 0 });
    let now = 0;
    const l = new SubmissionLimiter({ settings: () => settings, log, countPending: async () => 0, now: () => now, maxSources: 100 });
    try {
      for (let i = 0; i < 5000; i++) {
        const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        await l.admit(ip, true);
        await l.admit(ip, true); // refused: its one token is gone
      }
      assert.ok(l.tracked <= 100, `tracked ${l.tracked}`);
      assert.equal(logs.length, 100, "at most 100 per-source lines a minute");
      now += 60_000;
      l.sweep();
      const summary = logs.slice(100);
      assert.equal(summary.length, 1, "the other sources in one summary line");
      assert.equal(summary[0]!.refused, 4900);
      assert.equal(summary[0]!.sources, 4900);
    } finally {
      l.stop();
    }
  });

  test("sources: IPv4 as is (also IPv4-mapped), IPv6 by its /64", () => {
    assert.equal(sourceKey("10.1.2.3"), "10.1.2.3");
    assert.equal(sourceKey("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(sourceKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(sourceKey("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
    assert.equal(sourceKey("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(sourceKey("::1"), "0:0:0:0::/64");
  });
});

describe("flood protection in the server", () => {
  test("over the limit: 429, Retry-After, a message, nothing stored, no request log line; polls are not limited", async () => {
    const f = await makeFixture({ csrRate: 1, csrBurst: 3, maxPendingRequests: 0 });
    try {
      const names = Array.from({ length: 5 }, (_, i) => `burst${i}.test`);
      const answers = [];
      for (const n of names) answers.push(await put(f, n, (await makeCsr(n)).csrPem, "10.1.1.1"));
      assert.deepEqual(answers.map((r) => r.statusCode), [200, 200, 200, 429, 429]);
      const r = answers[3]!;
      assert.equal(r.headers["retry-after"], "1");
      assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
      assert.equal(r.headers["x-puppet-version"], "7.23.0");
      assert.match(r.body, /^Too many certificate requests from 10\.1\.1\.1: .*Try again in 1 second\.$/);
      for (const n of names.slice(3)) assert.equal((await f.app.inject({ url: `${V1}/certificate_request/${n}`, remoteAddress: "10.1.1.1" })).statusCode, 404, "nothing stored");
      // Waiting agents poll with GET: never counted.
      for (let i = 0; i < 20; i++) assert.equal((await f.app.inject({ url: `${V1}/certificate/${names[0]}`, remoteAddress: "10.1.1.1" })).statusCode, 404);
      assert.equal((await put(f, "other.test", (await makeCsr("other.test")).csrPem, "10.2.2.2")).statusCode, 200, "another address is not affected");
      const requestLines = f.logs.filter((l) => l.msg === "request" && l.method === "PUT");
      assert.deepEqual(requestLines.map((l) => l.status), [200, 200, 200, 200], "the refusals are not in the request log");
      const warn = f.logs.filter((l) => l.source === "10.1.1.1");
      assert.equal(warn.length, 1);
    } finally {
      await f.app.close();
    }
  });

  test("the pending cap over HTTP: 503 with Retry-After once max_pending_requests are pending", async () => {
    const f = await makeFixture({ csrRate: 0, maxPendingRequests: 3 });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const n = `cap${i}.test`;
        statuses.push((await put(f, n, (await makeCsr(n)).csrPem, `10.3.0.${i}`)).statusCode);
      }
      assert.deepEqual(statuses, [200, 200, 200, 503, 503]);
      assert.equal(await pendingCount(f), 3);
    } finally {
      await f.app.close();
    }
  });

  test("20,000 PUTs from one address over loopback (default settings): pending list, memory and another client's latency stay bounded", async (t) => {
    const f = await makeFixture();
    try {
      const { csrRate, csrBurst, maxPendingRequests } = f.settings;
      await f.app.listen({ host: "127.0.0.1", port: 0 });
      const { port } = f.app.server.address() as AddressInfo;
      const N = 20_000;
      const made = performance.now();
      // buildCsr's layout, signed synchronously (through the signing pool these took ~10 s here).
      const keys = await generateKeyPair(EC);
      const spki = spkiDer(keys.publicKey);
      const scheme = signatureSchemeFor(keys.privateKey);
      const csrs: string[] = [];
      for (let i = 0; i < N; i++) {
        const info = seq(integer(0), cnName(`flood${i}.test`), spki, tlv(0xa0, []));
        csrs.push(csrToPem(seq(info, scheme.algorithmDer, bitString(signSync(info, keys.privateKey, scheme)))));
      }
      const sample = parseCsrPem(csrs[N - 1]!);
      assert.ok(verifyCsrSignature(sample) && sample.commonName === `flood${N - 1}.test`, "valid CSRs: each would be stored");
      t.diagnostic(`made ${N} valid CSRs (one key) in ${Math.round(performance.now() - made)} ms`);
      const before = await pendingCount(f);

      // The flood comes from 127.0.0.1 over 64 keep-alive connections, sent by a worker thread (the
      // flooder is another machine, not a load on the server's event loop); the other client from 127.0.0.2.
      const bystander = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: "127.0.0.2" } as http.AgentOptions);
      const send = (agent: http.Agent, method: string, urlPath: string, body?: string) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, agent, headers: body ? { "content-type": "text/plain" } : {} }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("error", reject);
          req.end(body);
        });
      const otherCsrs = await Promise.all(Array.from({ length: 200 }, (_, i) => makeCsr(`bystander${i}.test`)));
      let bystanderPuts = 0;
      const probe = async (i: number): Promise<number> => {
        const t0 = performance.now();
        const isPut = i % 5 === 4;
        const status = isPut
          ? await send(bystander, "PUT", `${V1}/certificate_request/bystander${i}.test`, otherCsrs[i]!.csrPem)
          : await send(bystander, "GET", `${V1}/certificate/ca`);
        assert.equal(status, 200, `bystander request ${i}`);
        if (isPut) bystanderPuts++;
        return performance.now() - t0;
      };
      const baseline: number[] = [];
      for (let i = 0; i < 50; i++) baseline.push(await probe(i));

      gc();
      const rss0 = process.memoryUsage().rss;
      const heap0 = process.memoryUsage().heapUsed;
      let rssPeak = rss0;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
      let floodDone = false;
      const started = performance.now();
      const flooder = new Worker(FLOODER, { eval: true, workerData: { port, path: `${V1}/certificate_request/flood`, csrs, connections: 64 } });
      const flood = new Promise<Record<string, number>>((resolve, reject) => {
        flooder.once("message", resolve);
        flooder.once("error", reject);
      }).finally(() => (floodDone = true));
      const during: number[] = [];
      for (let i = 50; !floodDone && i < otherCsrs.length; i++) {
        during.push(await probe(i));
        await new Promise((r) => setTimeout(r, 20));
      }
      const statuses = new Map(Object.entries(await flood).map(([k, v]) => [Number(k), v]));
      await flooder.terminate();
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      const rss1 = process.memoryUsage().rss;
      gc();
      const heap1 = process.memoryUsage().heapUsed;
      bystander.destroy();

      const stored = (await pendingCount(f)) - before - bystanderPuts;
      const bound = csrBurst + Math.ceil(csrRate * seconds) + 1;
      baseline.sort((a, b) => a - b);
      during.sort((a, b) => a - b);
      const ms = (x: number) => `${x.toFixed(1)} ms`;
      const mib = (x: number) => `${(x / 1048576).toFixed(1)} MiB`;
      t.diagnostic(`flood: ${N} PUTs from 127.0.0.1 (a worker thread, 64 connections) in ${seconds.toFixed(1)} s (${Math.round(N / seconds)}/s), statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
      t.diagnostic(`pending added by the flood: ${stored} (bound csr_burst + csr_rate x seconds = ${bound}; max_pending_requests ${maxPendingRequests})`);
      t.diagnostic(`memory: process RSS ${mib(rss0)} -> peak ${mib(rssPeak)} -> ${mib(rss1)} (+${mib(rssPeak - rss0)} at peak, the flooding worker thread included); server heap after GC ${mib(heap0)} -> ${mib(heap1)}`);
      t.diagnostic(`other client (127.0.0.2): before the flood p50 ${ms(percentile(baseline, 50))} p99 ${ms(percentile(baseline, 99))}; during (${during.length} requests) p50 ${ms(percentile(during, 50))} p90 ${ms(percentile(during, 90))} max ${ms(during.at(-1) ?? NaN)}`);
      const warnLines = f.logs.filter((l) => l.source === "127.0.0.1");
      const requestLines = f.logs.filter((l) => l.msg === "request" && String(l.path).startsWith(`${V1}/certificate_request/flood`)).length;
      t.diagnostic(`log: ${warnLines.length} report line(s) for the flooding source, ${requestLines} request lines (one per stored request)`);

      assert.ok(stored <= bound, `stored ${stored} > ${bound}`);
      assert.equal((statuses.get(200) ?? 0) + (statuses.get(429) ?? 0), N, "every answer 200 or 429");
      assert.equal(requestLines, statuses.get(200), "refusals are not in the request log");
      assert.ok(warnLines.length <= 1 + Math.ceil(seconds / 60), "one line per source per minute");
      assert.ok(heap1 - heap0 < 32 * 1048576, `heap retained ${mib(heap1 - heap0)}`);
      assert.ok(rssPeak - rss0 < 256 * 1048576, `RSS peak grew by ${mib(rssPeak - rss0)}`);
      assert.ok(during.length >= 5, "the other client was served during the flood");
      assert.ok(percentile(during, 50) < 250, `other client's median latency ${percentile(during, 50)} ms`);
    } finally {
      await f.app.close();
    }
  });
});

describe("flood protection in `fleetca server` (TLS, its JSON log)", () => {
  const dir = tmpDir("fleetca-flood-tls-");
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("csr_burst PUTs pass, the next gets 429 with Retry-After over HTTPS; one report line, no request lines for the refusals", async () => {
    server = await startServer({ dir: path.join(dir, "server"), config: "key_type: ec\ncsr_rate: 0.1\ncsr_burst: 5\n" });
    const ca = fs.readFileSync(path.join(server.ssldir, "certs", "ca.pem"), "utf8");
    const agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
    const statuses: number[] = [];
    let refused: HttpsResult | undefined;
    const csrs = await Promise.all(Array.from({ length: 12 }, (_, i) => makeCsr(`tls${i}.test`)));
    for (let i = 0; i < 12; i++) {
      const r = await httpsRequest(`${server.url}${V1}/certificate_request/tls${i}.test`, { method: "PUT", body: csrs[i]!.csrPem, headers: { "content-type": "text/plain" }, ca, agent, servername: "localhost" });
      statuses.push(r.status);
      refused ??= r.status === 429 ? r : undefined;
    }
    agent.destroy();
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    const wait = Number(refused?.headers["retry-after"]);
    assert.ok(wait >= 1 && wait <= 10, `Retry-After ${wait}: a token every 10 s at csr_rate 0.1`);
    assert.equal(refused!.body, `Too many certificate requests from 127.0.0.1: at most 0.1 per second (csr_rate) after a burst of 5 (csr_burst); nothing was stored. Try again in ${wait} second${wait === 1 ? "" : "s"}.`);
    const report = await server.waitForLog((l) => l.source === "127.0.0.1");
    assert.equal(report.refused, 1, "the first refusal is reported at once; the rest wait for the minute");
    const logs = server.logs();
    assert.equal(logs.filter((l) => l.source === "127.0.0.1").length, 1);
    assert.equal(logs.filter((l) => l.msg === "request" && l.method === "PUT").length, 5, "only the accepted PUTs are in the request log");
  });
});

const skip = puppetMissing() ?? false;

describe("a real Puppet agent", { skip }, () => {
  const dir = tmpDir("fleetca-flood-agent-");
  let server: ServerProcess | undefined;
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("polling for its certificate (--waitforcert 1) with the default limits is never refused", async () => {
    server = await startServer({ dir: path.join(dir, "server"), config: "key_type: ec\nautosign: false\n" });
    const a = makeAgent(path.join(dir, "agents"), "poller.example.com");
    const waiting = puppetSsl("bootstrap", a, server.port, ["--waitforcert", "1", "--maxwaitforcert", "90"]);
    // The agent submits its CSR again on every poll (Puppet 7's state machine starts over after
    // each wait): let it poll a few times, then sign.
    const puts = () => server!.logs().filter((l) => l.msg === "request" && l.method === "PUT" && String(l.path).endsWith("/poller.example.com"));
    const deadline = Date.now() + 60_000;
    while (puts().length < 5) {
      assert.ok(Date.now() < deadline, "the agent kept submitting");
      await new Promise((r) => setTimeout(r, 200));
    }
    const signed = await fleetcaProcess(["ca", "sign", "--cadir", server.cadir, a.certname]);
    assert.equal(signed.code, 0, signed.stderr);
    const r = await waiting;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Downloaded certificate for poller\.example\.com/);
    const statuses = server.logs().filter((l) => l.msg === "request").map((l) => l.status);
    assert.ok(!statuses.includes(429) && !statuses.includes(503), `statuses: ${statuses.join(",")}`);
    assert.equal(server.logs().filter((l) => typeof l.source === "string" || l.maxPendingRequests !== undefined).length, 0, "no flood report");
    assert.ok(puts().length >= 5);
  });
});
