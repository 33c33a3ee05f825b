/** The admin and client-certificate endpoints in process: sign, sign/all, clean, certificate_renewal, generate. */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { before, describe, test } from "node:test";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { as, assertOpensslVerifies, makeCsr, makeFixture, putCsr, TEST_BY, V1, type Fixture } from "./helpers/server-fixture.js";

let f: Fixture;

const json = { "content-type": "application/json" };

async function submit(name: string, opts: Parameters<typeof makeCsr>[1] = {}) {
  const r = await putCsr(f, name, (await makeCsr(name, opts)).csrPem);
  assert.equal(r.statusCode, 200, r.body);
}

const assertVerifies = (certPem: string) => assertOpensslVerifies(f, certPem);

before(async () => {
  f = await makeFixture();
});

describe("sign and sign/all", () => {
  test("POST sign: signed, no-csr and signing-errors, as newer Puppet Servers answer", async () => {
    await submit("bulk1.test");
    await submit("bulk2.test");
    await submit("bulksan.test", { altNames: ["DNS:bulksan.test", "DNS:other.test"] });
    const r = await f.app.inject({
      method: "POST", url: `${V1}/sign`, headers: as(f.admin, json),
      payload: JSON.stringify({ certnames: ["bulk1.test", "bulk2.test", "nocsr.test", "agent.test", "bulksan.test"] }),
    });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(r.body), { signed: ["bulk1.test", "bulk2.test"], "no-csr": ["nocsr.test", "agent.test"], "signing-errors": ["bulksan.test"] });
    for (const n of ["bulk1.test", "bulk2.test"]) await assertVerifies((await f.app.inject({ url: `${V1}/certificate/${n}` })).body);
    assert.ok(f.logs.some((l) => String(l.msg).includes("could not sign bulksan.test")), "why it failed is logged");
  });

  test("POST sign: bad bodies are 400; non-admins 403", async () => {
    const post = (payload: string, id = f.admin) => f.app.inject({ method: "POST", url: `${V1}/sign`, headers: as(id, json), payload });
    assert.equal((await post("nope")).body, "Request body is not JSON.");
    const missing = await post('{"names":[]}');
    assert.equal(missing.statusCode, 400);
    assert.match(missing.body, /^Missing required key: 'certnames'/);
    assert.equal((await post('{"certnames":[]}', f.agent)).statusCode, 403);
  });

  test("POST sign/all signs every pending request", async () => {
    await submit("all1.test");
    await submit("all2.test");
    const r = await f.app.inject({ method: "POST", url: `${V1}/sign/all`, headers: as(f.admin) });
    assert.equal(r.statusCode, 200);
    const report = JSON.parse(r.body) as { signed: string[]; "signing-errors": string[] };
    assert.ok(report.signed.includes("all1.test") && report.signed.includes("all2.test"));
    assert.ok(report["signing-errors"].includes("bulksan.test"), "the SAN request still fails policy");
  });
});

describe("clean", () => {
  const put = (payload: string) => f.app.inject({ method: "PUT", url: `${V1}/clean`, headers: as(f.admin, json), payload });

  test("cleans (revokes then deletes); a missing or request-only name is reported, its request kept", async () => {
    const victim = await f.issue("clean1.test");
    await submit("reqonly.test");
    const r = await put(JSON.stringify({ certnames: ["clean1.test", "missing.test", "reqonly.test"] }));
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(r.body, 'The following certs do not exist and cannot be revoked: ["missing.test","reqonly.test"]');
    assert.equal((await f.app.inject({ url: `${V1}/certificate/clean1.test` })).statusCode, 404);
    assert.ok((await f.ca.revokedSerials()).has(parseCertificatePem(victim.certPem).serial));
    assert.equal((await f.app.inject({ url: `${V1}/certificate_request/reqonly.test` })).statusCode, 200);
    await f.issue("clean2.test");
    const ok = await put('{"certnames":["clean2.test"]}');
    assert.equal(ok.body, "Successfully cleaned all certs.");
  });

  test("body errors in Puppet's words, text/plain", async () => {
    const cases: [string, string][] = [
      ["zzz", "Request body is not JSON."],
      ['{"foo":1}', "Missing required key: 'certnames'. Please supply the list of certs you want to clean."],
      ['{"certnames":["x"],"async":true}', "Async mode is not currently supported."],
    ];
    for (const [payload, message] of cases) {
      const r = await put(payload);
      assert.equal(r.statusCode, 400);
      assert.equal(r.headers["content-type"], "text/plain");
      assert.equal(r.body, message);
    }
  });
});

describe("certificate_renewal", () => {
  test("a client renews its own certificate: same name and key, new serial; openssl verifies it", async () => {
    const holder = await f.issue("renew.test");
    const r = await f.app.inject({ method: "POST", url: `${V1}/certificate_renewal`, headers: as(holder) });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers["content-type"], "text/plain");
    const renewed = parseCertificatePem(r.body);
    const old = parseCertificatePem(holder.certPem);
    assert.equal(renewed.commonName, "renew.test");
    assert.ok(renewed.spki.equals(old.spki));
    assert.notEqual(renewed.serial, old.serial);
    await assertVerifies(r.body);
    // The old certificate is no longer the one the CA holds: it cannot renew again.
    const stale = await f.app.inject({ method: "POST", url: `${V1}/certificate_renewal`, headers: as(holder) });
    assert.equal(stale.statusCode, 409);
  });

  test("without a certificate, or with a revoked one: 403", async () => {
    assert.equal((await f.app.inject({ method: "POST", url: `${V1}/certificate_renewal` })).statusCode, 403);
    const revoked = await f.issue("renew-revoked.test");
    await f.ca.revoke([revoked.name], TEST_BY);
    assert.equal((await f.app.inject({ method: "POST", url: `${V1}/certificate_renewal`, headers: as(revoked) })).statusCode, 403);
  });
});

describe("generate", () => {
  test("POST generate/NAME: JSON with a private key and its certificate, which verifies", async () => {
    const r = await f.app.inject({
      method: "POST", url: `${V1}/generate/gen.test`, headers: as(f.admin, json), payload: '{"dns_alt_names":["gen-alias.test"]}',
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers["content-type"], "application/json");
    const { private_key: keyPem, certificate } = JSON.parse(r.body) as { private_key: string; certificate: string };
    await assertVerifies(certificate);
    const cert = parseCertificatePem(certificate);
    assert.ok(crypto.createPublicKey(crypto.createPrivateKey(keyPem)).export({ format: "der", type: "spki" }).equals(cert.spki));
    assert.deepEqual(cert.altNames.sort(), ["DNS:gen-alias.test", "DNS:gen.test"]);
    assert.ok(!f.logs.some((l) => JSON.stringify(l).includes("PRIVATE KEY")), "no key material in the logs");
    const again = await f.app.inject({ method: "POST", url: `${V1}/generate/gen.test`, headers: as(f.admin) });
    assert.equal(again.statusCode, 400);
    assert.match(again.body, /already has a signed certificate/);
  });

  test("non-admins are refused", async () => {
    assert.equal((await f.app.inject({ method: "POST", url: `${V1}/generate/x.test`, headers: as(f.agent) })).statusCode, 403);
  });
});
