/**
 * Every endpoint in process (fastify inject): status, Content-Type and body as Puppet
 * Server 7.9.5 answers them (reference 1.2), and fleetca's documented deviations.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { as, makeCsr, makeFixture, assertOpensslVerifies, putCsr, TEST_BY, V1, type Fixture } from "./helpers/server-fixture.js";

let f: Fixture;
const caPem = () => f.ca.caCertificatePem();
const assertVerifies = (certPem: string) => assertOpensslVerifies(f, certPem);
const submit = (name: string, csrPem: string) => putCsr(f, name, csrPem);

before(async () => {
  f = await makeFixture();
});

describe("certificate", () => {
  test("GET certificate/ca: the CA PEM as text/plain, with Last-Modified and 304 on If-Modified-Since", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate/ca` });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(r.headers["x-puppet-version"], "7.23.0");
    assert.equal(r.body, await caPem());
    const lastModified = String(r.headers["last-modified"]);
    assert.ok(lastModified.endsWith("GMT"));
    // Puppet's agent asks with the time it last checked: a later second than the change.
    const checked = new Date(Date.parse(lastModified) + 1000).toUTCString();
    const again = await f.app.inject({ url: `${V1}/certificate/ca`, headers: { "if-modified-since": checked } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, "");
    const older = new Date(Date.parse(lastModified) - 5000).toUTCString();
    assert.equal((await f.app.inject({ url: `${V1}/certificate/ca`, headers: { "if-modified-since": older } })).statusCode, 200);
  });

  test("GET certificate/NAME: signed cert PEM; unknown or invalid names 404 text/plain", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate/agent.test` });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(r.body, f.agent.certPem);
    await assertVerifies(r.body);
    for (const name of ["nosuch.example.com", "Upper.Example.com"]) {
      const nf = await f.app.inject({ url: `${V1}/certificate/${name}` });
      assert.equal(nf.statusCode, 404);
      assert.equal(nf.headers["content-type"], "text/plain");
      assert.equal(nf.body, `Could not find certificate ${name}`);
    }
  });

  test("names with characters outside [A-Za-z0-9._-] are the router's HTML 404", async () => {
    for (const url of [`${V1}/certificate/bad%20name!`, `${V1}/certificate/%2A.example.com`, `${V1}/certificate_request/has%20space.example.com`]) {
      const r = await f.app.inject({ url });
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.headers["content-type"], "text/html;charset=utf-8");
      assert.equal(r.body, "Not Found");
    }
  });
});

describe("certificate_revocation_list", () => {
  test("GET certificate_revocation_list/ca: PEM CRL, Last-Modified, 304", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate_revocation_list/ca` });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "text/plain");
    assert.match(r.body, /^-----BEGIN X509 CRL-----/);
    const checked = new Date(Date.parse(String(r.headers["last-modified"])) + 1000).toUTCString();
    const again = await f.app.inject({ url: `${V1}/certificate_revocation_list/ca`, headers: { "if-modified-since": checked } });
    assert.equal(again.statusCode, 304);
  });

  test("a revoke within the second of a client's last check is still fetched: no 304 within the change's own second", async () => {
    const victim = await f.issue("same-second.test");
    const fetched = await f.app.inject({ url: `${V1}/certificate_revocation_list/ca` });
    const checkedAt = new Date().toUTCString();
    await f.ca.revoke([victim.name], TEST_BY);
    const refresh = await f.app.inject({ url: `${V1}/certificate_revocation_list/ca`, headers: { "if-modified-since": checkedAt } });
    // The revoke came after the check, usually within the same second: the new CRL must come back whole.
    assert.equal(refresh.statusCode, 200);
    assert.notEqual(refresh.body, fetched.body);
  });

  test("the CRL's Last-Modified moves forward on a revoke, so an old copy is fetched again", async () => {
    const before = await f.app.inject({ url: `${V1}/certificate_revocation_list/ca` });
    const victim = await f.issue("crl-victim.test");
    await new Promise((r) => setTimeout(r, 1100));
    await f.ca.revoke([victim.name], TEST_BY);
    const after = await f.app.inject({ url: `${V1}/certificate_revocation_list/ca`, headers: { "if-modified-since": String(before.headers["last-modified"]) } });
    assert.equal(after.statusCode, 200);
    assert.notEqual(after.body, before.body);
  });
});

describe("certificate_request", () => {
  test("a certname of 253 characters (Puppet's limit) is accepted, 254 is refused", async () => {
    const long = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    assert.equal(long.length, 253);
    const r = await submit(long, (await makeCsr(long)).csrPem);
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await f.app.inject({ url: `${V1}/certificate_request/${long}` })).statusCode, 200);
    const tooLong = `${long}e`;
    const bad = await submit(tooLong, (await makeCsr("x.test")).csrPem);
    assert.notEqual(bad.statusCode, 200);
  });

  test("PUT accepted: 200 text/plain, empty; GET returns it; GET certificate is still 404", async () => {
    const { csrPem } = await makeCsr("pending.test");
    const r = await submit("pending.test", csrPem);
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(r.headers["content-length"], "0");
    const g = await f.app.inject({ url: `${V1}/certificate_request/pending.test` });
    assert.equal(g.statusCode, 200);
    assert.equal(g.headers["content-type"], "text/plain");
    assert.equal(g.body, csrPem);
    assert.equal((await f.app.inject({ url: `${V1}/certificate/pending.test` })).statusCode, 404);
  });

  test("PUT ignores the request Content-Type, as Puppet does", async () => {
    for (const [name, type] of [["ctype-json.test", "application/json"], ["ctype-form.test", "application/x-www-form-urlencoded"]] as const) {
      const { csrPem } = await makeCsr(name);
      const r = await f.app.inject({ method: "PUT", url: `${V1}/certificate_request/${name}`, payload: csrPem, headers: { "content-type": type } });
      assert.equal(r.statusCode, 200, r.body);
    }
  });

  test("duplicate, mismatch and name errors: 400 text/plain;charset=utf-8 with Puppet's messages", async () => {
    const { csrPem } = await makeCsr("dup.test");
    assert.equal((await submit("dup.test", csrPem)).statusCode, 200);
    const dup = await submit("dup.test", (await makeCsr("dup.test")).csrPem);
    assert.equal(dup.statusCode, 400);
    assert.equal(dup.headers["content-type"], "text/plain;charset=utf-8");
    assert.equal(dup.body, "dup.test already has a requested certificate; ignoring certificate request");
    // The duplicate check uses the CSR's CN, before the URL is compared (Puppet quirk 1).
    assert.equal((await submit("other.test", csrPem)).body, "dup.test already has a requested certificate; ignoring certificate request");
    const signed = await submit("agent.test", (await makeCsr("agent.test")).csrPem);
    assert.equal(signed.body, "agent.test already has a signed certificate; ignoring certificate request");
    const mismatch = await submit("url-name.test", (await makeCsr("cn-in-csr.test")).csrPem);
    assert.equal(mismatch.statusCode, 400);
    assert.equal(mismatch.body, 'Instance name "cn-in-csr.test" does not match requested key "url-name.test"');
    const upper = await submit("Upper.Example.com", (await makeCsr("Upper.Example.com")).csrPem);
    assert.equal(upper.statusCode, 400);
    assert.equal(upper.body, "Certificate names must be lower case.");
    const dash = await submit("trailing-dash-", (await makeCsr("trailing-dash-")).csrPem);
    assert.equal(dash.statusCode, 400);
    assert.match(dash.body, /^Subject hostname format is invalid/);
  });

  test("unparsable CSRs: 400 saying what is wrong (Puppet: 500 with a Java exception), nothing stored", async () => {
    const valid = (await makeCsr("garbage.test")).csrPem;
    const truncated = valid.slice(0, 120);
    const der = Buffer.from(valid.replace(/-----[^-]+-----|\s/g, ""), "base64").toString("latin1");
    const cases: [string, string][] = [
      ["hello world", "no PEM block"],
      ["", "empty"],
      [truncated, "no PEM block"],
      [der, "PEM"],
      ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "BEGIN CERTIFICATE"],
    ];
    for (const [body, expected] of cases) {
      const r = await submit("garbage.test", body);
      assert.equal(r.statusCode, 400, body.slice(0, 30));
      assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
      assert.ok(r.body.includes(expected), r.body);
    }
    assert.equal((await f.app.inject({ url: `${V1}/certificate_request/garbage.test` })).statusCode, 404);
  });

  test("a body over max_csr_bytes: 413 with a message, nothing stored", async () => {
    const { csrPem } = await makeCsr("big.test");
    const r = await submit("big.test", csrPem + "#".repeat(f.settings.maxCsrBytes));
    assert.equal(r.statusCode, 413);
    assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
    assert.match(r.body, /larger than 65536 bytes \(the max_csr_bytes setting\); nothing was stored/);
    assert.equal((await f.app.inject({ url: `${V1}/certificate_request/big.test` })).statusCode, 404);
  });

  test("GET unknown: 404 text/plain", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate_request/nosuch.test` });
    assert.equal(r.statusCode, 404);
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(r.body, "Could not find certificate_request nosuch.test");
  });

  test("DELETE: admin only; removes the request; 404 after", async () => {
    await submit("todelete.test", (await makeCsr("todelete.test")).csrPem);
    const url = `${V1}/certificate_request/todelete.test`;
    assert.equal((await f.app.inject({ method: "DELETE", url })).statusCode, 403);
    assert.equal((await f.app.inject({ method: "DELETE", url, headers: as(f.agent) })).statusCode, 403);
    const ok = await f.app.inject({ method: "DELETE", url, headers: as(f.admin) });
    assert.equal(ok.statusCode, 204);
    assert.equal((await f.app.inject({ url })).statusCode, 404);
    assert.equal((await f.app.inject({ method: "DELETE", url, headers: as(f.admin) })).statusCode, 404);
  });
});

describe("certificate_statuses", () => {
  test("GET any key lists everything; ?state filters; an unknown state lists everything", async () => {
    const get = async (q = "") => {
      const r = await f.app.inject({ url: `${V1}/certificate_statuses/any_key${q}`, headers: as(f.admin) });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers["content-type"], "*/*;charset=UTF-8");
      return JSON.parse(r.body) as { name: string; state: string }[];
    };
    const all = await get();
    assert.ok(all.some((s) => s.name === "admin.test" && s.state === "signed"));
    assert.ok(all.some((s) => s.state === "requested"));
    const requested = await get("?state=requested");
    assert.ok(requested.length > 0 && requested.every((s) => s.state === "requested"));
    assert.equal((await get("?state=bogus")).length, all.length);
  });

  test("no key: 400 Missing URL Segment", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate_statuses/`, headers: as(f.admin) });
    assert.equal(r.statusCode, 400);
    assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
    assert.equal(r.body, "Missing URL Segment");
  });
});

describe("expirations, status", () => {
  test("GET expirations: application/json for any authenticated client", async () => {
    const r = await f.app.inject({ url: `${V1}/expirations`, headers: as(f.agent) });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "application/json");
    const body = JSON.parse(r.body) as { "ca-certs": Record<string, string>; crls: Record<string, string> };
    assert.match(body["ca-certs"]["Puppet CA: ca.test"] ?? "", /UTC$/);
    assert.match(body.crls["Puppet CA: ca.test"] ?? "", /UTC$/);
  });

  test("GET /status/v1/simple: running", async () => {
    const r = await f.app.inject({ url: "/status/v1/simple" });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
    assert.equal(r.body, "running");
  });
});
