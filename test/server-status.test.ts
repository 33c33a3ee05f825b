/** certificate_status/NAME in process: GET, PUT (sign, revoke) and DELETE, as Puppet Server 7.9.5 answers them. */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { as, makeCsr, makeFixture, assertOpensslVerifies, putCsr, V1, type Fixture } from "./helpers/server-fixture.js";
import { verifyWithCrl } from "./helpers/openssl.js";

let f: Fixture;
const caPem = () => f.ca.caCertificatePem();
const assertVerifies = (certPem: string) => assertOpensslVerifies(f, certPem);
const submit = (name: string, csrPem: string) => putCsr(f, name, csrPem);

before(async () => {
  f = await makeFixture();
});

describe("certificate_status", () => {
  test("GET: requested object in Puppet's key order; content type follows Accept", async () => {
    await submit("status.test", (await makeCsr("status.test")).csrPem);
    const url = `${V1}/certificate_status/status.test`;
    const r = await f.app.inject({ url, headers: as(f.admin, { accept: "*/*" }) });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "*/*;charset=UTF-8");
    const s = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(s), ["name", "state", "dns_alt_names", "subject_alt_names", "authorization_extensions", "fingerprint", "fingerprints"]);
    assert.equal(s.state, "requested");
    assert.deepEqual(Object.keys(s.fingerprints as object), ["SHA1", "SHA256", "SHA512", "default"]);
    const json = await f.app.inject({ url, headers: as(f.admin, { accept: "application/json" }) });
    assert.equal(json.headers["content-type"], "application/json;charset=utf-8");
    const pson = await f.app.inject({ url, headers: as(f.admin, { accept: "text/pson" }) });
    assert.equal(pson.headers["content-type"], "text/pson;charset=UTF-8");
  });

  test("GET signed: signed object with serial_number as a JSON integer and Puppet dates", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate_status/admin.test`, headers: as(f.admin) });
    const s = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(s), [
      "name", "dns_alt_names", "state", "authorization_extensions", "subject_alt_names", "not_before", "fingerprints", "not_after", "serial_number", "fingerprint",
    ]);
    assert.equal(s.state, "signed");
    assert.deepEqual(s.authorization_extensions, { pp_cli_auth: "true" });
    assert.equal(typeof s.serial_number, "number");
    assert.match(String(s.not_after), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dUTC$/);
  });

  test("GET unknown: 404 with Puppet's empty media type", async () => {
    const r = await f.app.inject({ url: `${V1}/certificate_status/nosuch.test`, headers: as(f.admin) });
    assert.equal(r.statusCode, 404);
    assert.equal(r.headers["content-type"], ";charset=UTF-8");
    assert.equal(r.body, "Resource not found.");
  });

  test("PUT body validation, in Puppet's words", async () => {
    const url = `${V1}/certificate_status/status.test`;
    const put = (payload: string, type = "application/json") => f.app.inject({ method: "PUT", url, payload, headers: as(f.admin, { "content-type": type }) });
    const cases: [Awaited<ReturnType<typeof put>>, number, string][] = [
      [await put('{"desired_state":"signed"}', "text/plain"), 415, "Unsupported media type."],
      [await put("not json"), 400, "Request body is not JSON."],
      [await put("{}"), 400, 'Missing required parameter "desired_state"'],
      [await put('{"desired_state":"bogus"}'), 400, "State bogus invalid; Must specify desired state of 'signed' or 'revoked' for host status.test."],
      [await put('{"desired_state":"signed","cert_ttl":"1h"}'), 400, 'cert_ttl specified for host status.test must be an integer, not "1h"'],
    ];
    for (const [r, status, body] of cases) {
      assert.equal(r.statusCode, status, body);
      assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
      assert.equal(r.body, body);
    }
    const nosuch = await f.app.inject({
      method: "PUT", url: `${V1}/certificate_status/nosuch.test`, payload: '{"desired_state":"signed"}', headers: as(f.admin, { "content-type": "application/json" }),
    });
    assert.equal(nosuch.statusCode, 404);
    assert.equal(nosuch.body, "Invalid certificate subject.");
  });

  test("PUT signed (with cert_ttl) then revoked; conflicts are 409", async () => {
    const name = "ttl.test";
    await submit(name, (await makeCsr(name)).csrPem);
    const url = `${V1}/certificate_status/${name}`;
    const put = (payload: string) => f.app.inject({ method: "PUT", url, payload, headers: as(f.admin, { "content-type": "application/json" }) });
    const early = await put('{"desired_state":"revoked"}');
    assert.equal(early.statusCode, 409);
    assert.equal(early.body, `Cannot revoke certificate for host ${name} without a signed certificate`);
    const signed = await put('{"desired_state":"signed","cert_ttl":3600}');
    assert.equal(signed.statusCode, 204);
    assert.equal(signed.headers["content-type"], "text/plain");
    assert.equal(signed.headers.vary, "Accept");
    const pem = (await f.app.inject({ url: `${V1}/certificate/${name}` })).body;
    await assertVerifies(pem);
    const cert = parseCertificatePem(pem);
    assert.ok(Math.abs(cert.notAfter.getTime() - Date.now() - 3600_000) < 120_000, "not-after is now + cert_ttl");
    const again = await put('{"desired_state":"signed"}');
    assert.equal(again.statusCode, 409);
    assert.equal(again.body, `Cannot sign certificate for host ${name} without a certificate request`);
    assert.equal((await put('{"desired_state":"revoked"}')).statusCode, 204);
    assert.equal((await put('{"desired_state":"revoked"}')).statusCode, 204, "re-revoking is idempotent");
    const st = JSON.parse((await f.app.inject({ url, headers: as(f.admin) })).body) as { state: string };
    assert.equal(st.state, "revoked");
    assert.ok(!verifyWithCrl(await caPem(), await f.ca.crlPem(), pem).ok, "openssl sees it revoked");
  });

  test("PUT signed refuses extra SANs, authorization extensions and foreign extensions with 409", async () => {
    const cases: [string, Parameters<typeof makeCsr>[1], RegExp][] = [
      ["san.test", { altNames: ["DNS:san.test", "DNS:alt1.test"] }, /^CSR 'san.test' contains extra subject alternative names \(DNS:alt1.test\), which are disallowed/],
      ["auth.test", { extensionRequests: [{ oid: "1.3.6.1.4.1.34380.1.3.13", value: "webserver" }] }, /^CSR 'auth.test' contains an authorization extension/],
      ["badext.test", { extensionRequests: [{ oid: "1.2.3.4", value: "x" }] }, /^Found extensions that are not permitted: 1.2.3.4$/],
    ];
    for (const [name, opts, message] of cases) {
      assert.equal((await submit(name, (await makeCsr(name, opts)).csrPem)).statusCode, 200, "stored while autosign is off");
      const r = await f.app.inject({
        method: "PUT", url: `${V1}/certificate_status/${name}`, payload: '{"desired_state":"signed"}', headers: as(f.admin, { "content-type": "application/json" }),
      });
      assert.equal(r.statusCode, 409, name);
      assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
      assert.match(r.body, message);
    }
  });

  test("DELETE: 204 with Puppet's empty media type, removes without revoking; 404 after", async () => {
    const victim = await f.issue("deleteme.test");
    const url = `${V1}/certificate_status/${victim.name}`;
    const r = await f.app.inject({ method: "DELETE", url, headers: as(f.admin) });
    assert.equal(r.statusCode, 204);
    assert.equal(r.headers["content-type"], ";charset=UTF-8");
    assert.equal((await f.app.inject({ url: `${V1}/certificate/${victim.name}` })).statusCode, 404);
    assert.ok(!(await f.ca.revokedSerials()).has(parseCertificatePem(victim.certPem).serial));
    const again = await f.app.inject({ method: "DELETE", url, headers: as(f.admin) });
    assert.equal(again.statusCode, 404);
    assert.equal(again.body, "Resource not found.");
  });
});
