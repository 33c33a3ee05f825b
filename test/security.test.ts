/**
 * Security review regressions: each test is an attack that worked (or answered 500)
 * before its fix. In process, against the inject fixture and the in-memory store.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { csrToPem } from "../src/pki/csr.js";
import { bitString, implicitPrim, integer, oid, seq, set, tlv } from "../src/pki/der.js";
import { extension } from "../src/pki/extensions.js";
import { generateKeyPair, signAsync, signatureSchemeFor, spkiDer } from "../src/pki/keys.js";
import { cnName } from "../src/pki/name.js";
import { OID } from "../src/pki/oids.js";
import { pemBlocks } from "../src/pki/pem.js";
import { as, EC, makeCsr, makeFixture, TEST_BY } from "./helpers/server-fixture.js";

const V1 = "/puppet-ca/v1";
const ACTOR = TEST_BY;

/** A CSR with the extensions given as raw DER, so tests can send what no honest builder writes. */
async function rawCsr(commonName: string, extensions: Buffer[]): Promise<string> {
  const keys = await generateKeyPair(EC);
  const attrs = extensions.length > 0 ? [seq(oid(OID.extensionRequest), set(seq(...extensions)))] : [];
  const info = seq(integer(0), cnName(commonName), spkiDer(keys.publicKey), tlv(0xa0, attrs));
  const scheme = signatureSchemeFor(keys.privateKey);
  return csrToPem(seq(info, scheme.algorithmDer, bitString(await signAsync(info, keys.privateKey, scheme))));
}

describe("authorization sees the path the router sees", () => {
  test("an auth_rules deny cannot be bypassed by percent-encoding part of the path", async () => {
    const f = await makeFixture({ authRules: [{ path: `${V1}/certificate/secret.test`, methods: ["GET"], allow: "deny" }] });
    await f.issue("secret.test");
    for (const url of [`${V1}/certificate/secret.test`, `${V1}/certificate/s%65cret.test`, `${V1}/certificate/secret%2Etest`, `${V1}/certificate/secret.test#x`]) {
      const r = await f.app.inject({ url, headers: as(f.agent) });
      assert.equal(r.statusCode, 403, `${url} answered ${r.statusCode}`);
    }
    // Other names are still served.
    assert.equal((await f.app.inject({ url: `${V1}/certificate/agent.test` })).statusCode, 200);
  });

  test("an encoded slash or underscore in a static segment reaches no admin endpoint", async () => {
    const f = await makeFixture();
    for (const url of [`${V1}/certificate_status%2Fagent.test`, `${V1}/certificate%5Fstatus/agent.test`, `${V1}/certificate/..%2Fcertificate_status%2Fagent.test`]) {
      const r = await f.app.inject({ url, headers: as(f.agent) });
      assert.ok(r.statusCode === 403 || r.statusCode === 404, `${url} answered ${r.statusCode}`);
      assert.doesNotMatch(r.body, /"state"/);
    }
  });
});

describe("admin input that used to answer 500", () => {
  test("a cert_ttl past the year 9999 is a 400 naming cert_ttl, and the request stays pending", async () => {
    const f = await makeFixture();
    const { csrPem } = await makeCsr("longlived.test");
    await f.app.inject({ method: "PUT", url: `${V1}/certificate_request/longlived.test`, headers: { "content-type": "text/plain" }, payload: csrPem });
    for (const ttl of [Number.MAX_SAFE_INTEGER, 1e12, 3e11]) {
      const r = await f.app.inject({
        method: "PUT",
        url: `${V1}/certificate_status/longlived.test`,
        headers: as(f.admin, { "content-type": "application/json" }),
        payload: JSON.stringify({ desired_state: "signed", cert_ttl: ttl }),
      });
      assert.equal(r.statusCode, 400, r.body);
      assert.match(r.body, /cert_ttl/);
    }
    assert.equal((await f.ca.status("longlived.test")).state, "requested");
    assert.equal(f.logs.filter((l) => (l.level as number) >= 50).length, 0, "nothing logged as an unexpected failure");
  });

  test("generate with a dns_alt_name that is not a name or an IP is a 400, and nothing is stored", async () => {
    const f = await makeFixture();
    for (const alt of ["IP:999.1.1.1", "FOO:bar"]) {
      const r = await f.app.inject({
        method: "POST",
        url: `${V1}/generate/badalt.test`,
        headers: as(f.admin, { "content-type": "application/json" }),
        payload: JSON.stringify({ dns_alt_names: [alt] }),
      });
      assert.equal(r.statusCode, 400, `${alt}: ${r.body}`);
      assert.doesNotMatch(r.body, /PRIVATE KEY/);
    }
    await assert.rejects(f.ca.status("badalt.test"), /not found/i);
  });
});

describe("CSR content an anonymous caller controls", () => {
  test("an IP subjectAltName of the wrong length is refused at submission, so it cannot break sign/all", async () => {
    const f = await makeFixture({ allowSubjectAltNames: true });
    const bad = await rawCsr("badip.test", [extension(OID.subjectAltName, false, seq(implicitPrim(7, Buffer.alloc(5))))]);
    const r = await f.app.inject({ method: "PUT", url: `${V1}/certificate_request/badip.test`, headers: { "content-type": "text/plain" }, payload: bad });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.body, /IP/);
    await assert.rejects(f.ca.status("badip.test"), /not found/i);
    // Even if one got into the store (an older server, a copied file), signing reports it per name.
    await f.store.putRequest("badip.test", bad, { name: "badip.test", state: "requested", sha256: "", altNames: [], authExtensions: {} });
    const { csrPem } = await makeCsr("good.test");
    await f.app.inject({ method: "PUT", url: `${V1}/certificate_request/good.test`, headers: { "content-type": "text/plain" }, payload: csrPem });
    const all = await f.app.inject({ method: "POST", url: `${V1}/sign/all`, headers: as(f.admin) });
    assert.equal(all.statusCode, 200, all.body);
    assert.deepEqual(JSON.parse(all.body).signed, ["good.test"]);
  });

  // No clock in the assertion: a quadratic scan of 16 MB of unterminated BEGIN lines takes
  // hours, so this test's own timeout is what catches it; a linear one finishes in seconds
  // even on a loaded machine.
  test("PEM scanning is linear: 16 MB of unterminated BEGIN lines finish with no block", { timeout: 120_000 }, () => {
    const body = "-----BEGIN A-----".repeat(Math.floor((16 * 1024 * 1024) / 17));
    assert.deepEqual(pemBlocks(body), []);
  });
});

describe("revocation cannot be outrun by a renewal", () => {
  test("clean while the node renews: no certificate for the name is left unrevoked", async () => {
    const f = await makeFixture();
    const node = await f.issue("racer.test");
    const [renewed] = await Promise.allSettled([f.ca.renew(parseCertificatePem(node.certPem), ACTOR), f.ca.clean(["racer.test"], ACTOR, false)]);
    const revoked = await f.ca.revokedSerials();
    assert.ok(revoked.has(parseCertificatePem(node.certPem).serial));
    if (renewed.status === "fulfilled") assert.ok(revoked.has(renewed.value.serial), "the renewed certificate escaped the clean");
    assert.equal(await f.store.getCertificate("racer.test"), undefined);
  });

  test("a renewal started while revoke reads the name's serial: it is refused, or its certificate is revoked too", async () => {
    const f = await makeFixture();
    const node = await f.issue("racer2.test");
    // The renewal starts right after revoke read the name's serial (revoke reads under the CA
    // lock now, so the renewal can only commit after it, and must then find its certificate revoked).
    const original = f.store.getIndexEntry.bind(f.store);
    let renewal: Promise<bigint> | undefined;
    f.store.getIndexEntry = async (name, summarize) => {
      const found = await original(name, summarize);
      if (!renewal && name === "racer2.test") renewal = f.ca.renew(parseCertificatePem(node.certPem), ACTOR).then((c) => c.serial);
      return found;
    };
    const [result] = await f.ca.revoke(["racer2.test"], ACTOR);
    assert.equal(result?.error, undefined);
    assert.ok(renewal !== undefined);
    const renewed = await renewal.then((serial) => serial, () => undefined);
    if (renewed !== undefined) assert.ok((await f.ca.revokedSerials()).has(renewed), "the renewed certificate is still valid after revoke");
    assert.equal((await f.ca.status("racer2.test")).state, "revoked");
  });

  test("a renewal whose certificate was revoked while it was being signed stores nothing", async () => {
    const f = await makeFixture();
    const node = await f.issue("racer3.test");
    const cert = parseCertificatePem(node.certPem);
    const before = await f.store.getCertificate("racer3.test");
    const [renewed] = await Promise.allSettled([f.ca.renew(cert, ACTOR), f.ca.revoke(["racer3.test"], ACTOR)]);
    const revoked = await f.ca.revokedSerials();
    if (renewed.status === "fulfilled") assert.ok(revoked.has(renewed.value.serial), "an unrevoked renewal escaped the revoke");
    else assert.equal(await f.store.getCertificate("racer3.test"), before);
  });
});
