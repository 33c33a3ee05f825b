/**
 * Puppet's status service as Puppet Server 7.9.5 answers it for its CA (reference transcript
 * 01-http-nonexistent, and trapperkeeper-status's status_core): /status/v1/services and
 * /services/ca with the detail levels, /status/v1/simple and /simple/ca, and the 400s and
 * 404s of bad parameters and unknown services.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { makeFixture, type Fixture } from "./helpers/server-fixture.js";

let f: Fixture;
const get = (url: string) => f.app.inject({ url });

before(async () => {
  f = await makeFixture();
});

describe("/status/v1", () => {
  test("services/ca: the transcript's body byte for byte, anonymous", async () => {
    const r = await get("/status/v1/services/ca");
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "application/json;charset=utf-8");
    assert.equal(r.body, '{"service_version":"7.9.5","service_status_version":1,"detail_level":"info","state":"running","status":{},"active_alerts":[],"service_name":"ca"}');
  });

  test("services: every service by name, at the level asked (critical, info, debug)", async () => {
    const all = JSON.parse((await get("/status/v1/services")).body) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(all), ["ca"]);
    assert.deepEqual(Object.keys(all.ca!), ["service_version", "service_status_version", "detail_level", "state", "status", "active_alerts"]);
    for (const level of ["critical", "info", "debug"]) {
      const one = JSON.parse((await get(`/status/v1/services/ca?level=${level}`)).body) as Record<string, unknown>;
      assert.equal(one.detail_level, level);
      assert.deepEqual(one.status, {}, "Puppet's CA service reports {} at every level");
      const every = JSON.parse((await get(`/status/v1/services?level=${level}&timeout=5`)).body) as Record<string, Record<string, unknown>>;
      assert.equal(every.ca!.detail_level, level);
    }
  });

  test("bad parameters: 400 with trapperkeeper's {kind, msg}", async () => {
    const cases: [string, string][] = [
      ["/status/v1/services?level=bogus", '{"kind":"data-invalid","msg":"Invalid level: :bogus"}'],
      ["/status/v1/services/ca?level=verbose", '{"kind":"data-invalid","msg":"Invalid level: :verbose"}'],
      ["/status/v1/services?timeout=soon", '{"kind":"data-invalid","msg":"Invalid timeout. Should be an integer but was soon"}'],
      ["/status/v1/services/ca?timeout=0", '{"kind":"data-invalid","msg":"Invalid timeout. Timeout must be greater than zero but was 0"}'],
      ["/status/v1/services/ca?service_status_version=x", '{"kind":"data-invalid","msg":"Invalid service_status_version. Should be an integer but was x"}'],
      ["/status/v1/services/ca?service_status_version=2", '{"kind":"service-status-version-not-found","msg":"No status function with version 2 found for service ca"}'],
    ];
    for (const [url, body] of cases) {
      const r = await get(url);
      assert.equal(r.statusCode, 400, url);
      assert.equal(r.headers["content-type"], "application/json;charset=utf-8", url);
      assert.equal(r.body, body, url);
    }
    const v1 = await get("/status/v1/services/ca?service_status_version=1");
    assert.equal(v1.statusCode, 200);
  });

  test("an unknown service: 404 service-not-found (JSON), 404 not found: NAME (simple)", async () => {
    const r = await get("/status/v1/services/puppet-server");
    assert.equal(r.statusCode, 404);
    assert.equal(r.body, '{"kind":"service-not-found","msg":"No status information found for service puppet-server"}');
    const s = await get("/status/v1/simple/puppet-server");
    assert.equal(s.statusCode, 404);
    assert.equal(s.headers["content-type"], "text/plain;charset=utf-8");
    assert.equal(s.body, "not found: puppet-server");
  });

  test("simple and simple/ca (what `puppetserver ca` asks before offline actions): running, text", async () => {
    for (const url of ["/status/v1/simple", "/status/v1/simple/ca"]) {
      const r = await get(url);
      assert.equal(r.statusCode, 200, url);
      assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
      assert.equal(r.body, "running");
    }
    const bad = await get("/status/v1/simple?timeout=-1");
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.body, "Invalid timeout. Timeout must be greater than zero but was -1");
  });
});
