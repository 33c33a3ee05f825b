/**
 * The fuzzer's short form, in CI: a few thousand seeded cases against the parsers and every
 * endpoint (test/fuzz/fuzzer.ts says what counts as a finding). The long form, 100,000 cases and
 * more, is `node --import tsx scripts/fuzz.ts` (docs/server.md, "Bad input").
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { makeFixture } from "../helpers/server-fixture.js";
import { runFuzz } from "./fuzzer.js";

const CASES = Number(process.env.FLEETCA_FUZZ_CI_CASES ?? 3000);

describe("bad input, bounded", () => {
  test(`${CASES} seeded cases: no 5xx, no crash, no hang, every refusal with a message and nothing stored`, { timeout: 300_000 }, async (t) => {
    const report = await runFuzz({ seed: 13, cases: CASES });
    t.diagnostic(`${report.cases} cases in ${report.ms} ms; statuses ${JSON.stringify(report.statuses)}`);
    assert.deepEqual(report.findings, []);
    // The cases reached both kinds of target and refusals as well as successes.
    const endpoints = Object.keys(report.byTarget).filter((k) => /^[A-Z]+ \//.test(k));
    assert.ok(endpoints.length >= 30, `routes reached: ${endpoints.length}`);
    assert.ok(Object.keys(report.byTarget).length - endpoints.length >= 9, "every parser reached");
    assert.ok((report.statuses["200"] ?? 0) > 0 && (report.statuses["400"] ?? 0) > 0 && (report.statuses["403"] ?? 0) > 0);
  });

  test("the same seed gives the same cases", async () => {
    const a = await runFuzz({ seed: 7, cases: 200 });
    const b = await runFuzz({ seed: 7, cases: 200 });
    assert.deepEqual(a.statuses, b.statuses);
    assert.deepEqual(a.byTarget, b.byTarget);
    assert.deepEqual(a.messages, b.messages);
  });

  test("refused before routing, still with a message: a name over 253 characters, a malformed %-escape", async () => {
    const f = await makeFixture();
    const get = (url: string) => f.app.inject({ method: "GET", url });
    const long = await get(`/puppet-ca/v1/certificate/${"a".repeat(254)}`);
    assert.equal(long.statusCode, 414);
    assert.equal(long.body, "A name in the path is longer than 253 characters, the longest a certname may be; nothing was done.");
    assert.equal(long.headers["x-puppet-version"], "7.23.0");
    const apiLong = await get(`/api/v1/certificates/${"a".repeat(254)}`);
    assert.deepEqual([apiLong.statusCode, JSON.parse(apiLong.body)], [400, { kind: "invalid-name", message: "A name in the path is longer than 253 characters, the longest a certname may be; nothing was done." }]);
    const bad = await get("/puppet-ca/v1/certificate/%zz");
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.body, "The path has a malformed percent-escape (a % not followed by two hex digits); write a literal % as %25.");
    assert.equal(JSON.parse((await get("/api/v1/certificates/%zz")).body).kind, "invalid-request");
    await f.app.close();
  });
});
