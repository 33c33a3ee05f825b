/**
 * The OCSP responder: the request reader on requests `openssl ocsp -reqout` made, the answers
 * in process (CA key), and `fleetca server` answering `openssl ocsp -url` over HTTPS with
 * its delegated responder and with the CA key, a revoke by the CLI in another process
 * included. Every answer is read by openssl.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { generateCertificate } from "../src/ca/generate.js";
import { OcspResponder, OcspUnavailable } from "../src/ca/ocsp.js";
import { setupCa } from "../src/ca/setup.js";
import { PostgresStore } from "../src/store/postgres/index.js";
import { caSigner, DelegatedSigner, responderName } from "../src/server/ocsp/signer.js";
import { Ssldir } from "../src/host/ssldir.js";
import { certToPem, parseCertificatePem } from "../src/pki/certificate.js";
import { parseOcspRequest, MAX_CERT_IDS } from "../src/pki/ocsp.js";
import { fleetcaProcess } from "./helpers/cli.js";
import { httpsRequest } from "./helpers/https-client.js";
import { tmpDir } from "./helpers/openssl.js";
import { pgUnavailable, startPg } from "./helpers/pg-server.js";
import { expiredIdentity, makeFixture, TEST_BY, testSettings, type Fixture } from "./helpers/server-fixture.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const dir = tmpDir("fleetca-ocsp-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function file(content: string | Buffer, name = `f${++fileNo}`): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

function run(args: string[]): { code: number; out: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return { code: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** `openssl ocsp -issuer CA -cert CERT -reqout`: the request bytes. */
function opensslRequest(caPem: string, certPems: string[], opts: { nonce?: boolean; hash?: string } = {}): Buffer {
  const out = path.join(dir, `req${++fileNo}.der`);
  const args = ["ocsp", "-issuer", file(caPem)];
  if (opts.hash) args.push(`-${opts.hash}`);
  for (const c of certPems) args.push("-cert", file(c));
  args.push(opts.nonce === false ? "-no_nonce" : "-nonce", "-reqout", out);
  const r = run(args);
  assert.equal(r.code, 0, r.out);
  return fs.readFileSync(out);
}

/** `openssl ocsp -reqin -respin -resp_text`, verifying the answer against the CA. */
function opensslRead(caPem: string, req: Buffer, resp: Buffer, extra: string[] = []): { code: number; out: string } {
  const ca = file(caPem);
  return run(["ocsp", "-reqin", file(req), "-respin", file(resp), "-CAfile", ca, "-VAfile", ca, "-resp_text", ...extra]);
}

describe("the OCSPRequest reader", () => {
  let f: Fixture;
  let caPem: string;
  before(async () => {
    f = await makeFixture();
    caPem = await f.ca.caCertificatePem();
  });
  after(() => f.app.close());

  test("reads openssl's requests: CertIDs (SHA-1, SHA-256), serials, the nonce", async () => {
    const other = await f.issue("other.test");
    const r1 = parseOcspRequest(opensslRequest(caPem, [f.agent.certPem]));
    assert.ok(r1.ok);
    assert.equal(r1.request.certIds.length, 1);
    const id = r1.request.certIds[0]!;
    assert.equal(id.hash, "sha1");
    assert.equal(id.serial, parseCertificatePem(f.agent.certPem).serial);
    assert.equal(id.issuerNameHash.length, 20);
    assert.ok(r1.request.nonce && r1.request.nonce.length > 16);
    const r2 = parseOcspRequest(opensslRequest(caPem, [f.agent.certPem, other.certPem], { nonce: false, hash: "sha256" }));
    assert.ok(r2.ok);
    assert.equal(r2.request.nonce, undefined);
    assert.deepEqual(r2.request.certIds.map((c) => [c.hash, c.issuerNameHash.length]), [["sha256", 32], ["sha256", 32]]);
    assert.notEqual(r2.request.certIds[0]!.serial, r2.request.certIds[1]!.serial);
  });

  test("anything else is malformed, never a throw: empty, garbage, every truncation, flipped bytes, trailing bytes, too many CertIDs", () => {
    const good = opensslRequest(caPem, [f.agent.certPem]);
    assert.equal(parseOcspRequest(Buffer.alloc(0)).ok, false);
    assert.equal(parseOcspRequest(Buffer.from("garbage")).ok, false);
    assert.equal(parseOcspRequest(Buffer.concat([good, Buffer.from([0])])).ok, false);
    for (let n = 0; n < good.length; n++) assert.equal(parseOcspRequest(good.subarray(0, n)).ok, false, `truncated at ${n}`);
    for (let i = 0; i < good.length; i++) {
      for (const x of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(good);
        bad[i] = bad[i]! ^ x;
        parseOcspRequest(bad); // may parse (a flipped hash byte is still a request), must not throw
      }
    }
    const many = opensslRequest(caPem, Array.from({ length: MAX_CERT_IDS + 1 }, () => f.agent.certPem), { nonce: false });
    assert.equal(parseOcspRequest(many).ok, false);
  });
});

describe("answers in process (CA key)", () => {
  let f: Fixture;
  let caPem: string;
  before(async () => {
    f = await makeFixture();
    caPem = await f.ca.caCertificatePem();
  });
  after(() => f.app.close());

  const post = (body: Buffer | string, type = "application/ocsp-request") =>
    f.app.inject({ method: "POST", url: "/ocsp", payload: body, headers: { "content-type": type } });

  test("good, with and without a nonce; the nonce echoed; thisUpdate and nextUpdate one ocsp_ttl apart", async () => {
    for (const nonce of [true, false]) {
      const req = opensslRequest(caPem, [f.agent.certPem], { nonce });
      const r = await post(req);
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers["content-type"], "application/ocsp-response");
      const o = opensslRead(caPem, req, r.rawPayload);
      assert.equal(o.code, 0, o.out);
      assert.match(o.out, /Response verify OK/);
      assert.match(o.out, /Cert Status: good/);
      assert.match(o.out, /This Update: .*\n\s*Next Update: /);
      if (nonce) assert.match(o.out, /OCSP Nonce/);
      else assert.doesNotMatch(o.out, /OCSP Nonce|Nonce Verify error/);
      const times = [...o.out.matchAll(/(This|Next) Update: (.*)/g)].map((m) => Date.parse(m[2]!));
      assert.equal(times[1]! - times[0]!, 3600_000);
    }
  });

  test("unknown: a serial never issued; answers about several certificates at once", async () => {
    const never = await f.issue("never.test");
    // A serial past the store's next serial: a certificate signed by the CA key that the CA never issued.
    const unissued = await expiredIdentity(f.ca, "ghost.test", { serial: 0x7fffffffn });
    const req = opensslRequest(caPem, [never.certPem, unissued.certPem], { nonce: false });
    const o = opensslRead(caPem, req, (await post(req)).rawPayload);
    assert.equal(o.code, 0, o.out);
    assert.deepEqual([...o.out.matchAll(/Cert Status: (\w+)/g)].map((m) => m[1]), ["good", "unknown"]);
  });

  test("a certificate of another CA is unknown (its issuer hashes are not this CA's)", async () => {
    const other = await makeFixture();
    const otherCa = await other.ca.caCertificatePem();
    const req = opensslRequest(otherCa, [other.agent.certPem], { nonce: false });
    const o = opensslRead(caPem, req, (await post(req)).rawPayload);
    assert.equal(o.code, 0, o.out);
    assert.match(o.out, /Cert Status: unknown/);
    await other.app.close();
  });

  test("revoked, with time and reason; the cached good answer is never served after the revoke", async () => {
    const victim = await f.issue("victim.test");
    const req = opensslRequest(caPem, [victim.certPem], { nonce: false });
    const first = await post(req);
    const again = await post(req);
    assert.deepEqual(again.rawPayload, first.rawPayload, "a repeated nonce-less question is answered from the cache");
    assert.match(opensslRead(caPem, req, again.rawPayload).out, /Cert Status: good/);
    await f.ca.revoke(["victim.test"], TEST_BY, "superseded");
    const o = opensslRead(caPem, req, (await post(req)).rawPayload);
    assert.equal(o.code, 0, o.out);
    assert.match(o.out, /Cert Status: revoked/);
    assert.match(o.out, /Revocation Time: /);
    assert.match(o.out, /Revocation Reason: superseded \(0x4\)/);
  });

  test("a revocation written to the store by someone else (another process, another server) is in the next answer", async () => {
    const victim = await f.issue("victim2.test");
    const req = opensslRequest(caPem, [victim.certPem], { nonce: false });
    assert.match(opensslRead(caPem, req, (await post(req)).rawPayload).out, /Cert Status: good/);
    assert.match(opensslRead(caPem, req, (await post(req)).rawPayload).out, /Cert Status: good/);
    // Straight into the store, as another process would: this process's CA and its material do not see it happen.
    const serial = parseCertificatePem(victim.certPem).serial;
    await f.store.putRevocations([{ serial, name: "victim2.test", revokedAt: new Date(), reason: "keyCompromise", by: "elsewhere" }], []);
    const o = opensslRead(caPem, req, (await post(req)).rawPayload);
    assert.match(o.out, /Cert Status: revoked/);
    assert.match(o.out, /Revocation Reason: keyCompromise/);
  });

  test("malformed requests: HTTP 200 and malformedRequest, never a 5xx; any content type", async () => {
    const bodies: (string | Buffer)[] = ["", "garbage", Buffer.from([0x30, 0x80]), Buffer.from([0x30, 0x03, 0x02, 0x01]), Buffer.alloc(40_000, 0x30)];
    for (const b of bodies) {
      for (const type of ["application/ocsp-request", "application/json", "text/plain"]) {
        const r = await post(b, type);
        assert.equal(r.statusCode, 200, `${type} ${String(b).slice(0, 10)}`);
        assert.equal(r.rawPayload.toString("hex"), "30030a0101");
      }
    }
    const r = await f.app.inject({ method: "GET", url: "/ocsp/not*base64" });
    assert.equal(r.statusCode, 200);
    assert.equal(r.rawPayload.toString("hex"), "30030a0101");
    const noBody = await f.app.inject({ method: "POST", url: "/ocsp" });
    assert.equal(noBody.statusCode, 200);
    assert.equal(noBody.rawPayload.toString("hex"), "30030a0101");
  });

  test("GET /ocsp/{base64}: the same answer, cacheable until nextUpdate (RFC 5019)", async () => {
    const req = opensslRequest(caPem, [f.agent.certPem], { nonce: false });
    for (const encoded of [encodeURIComponent(req.toString("base64")), req.toString("base64")]) {
      const r = await f.app.inject({ method: "GET", url: `/ocsp/${encoded}` });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers["content-type"], "application/ocsp-response");
      assert.match(String(r.headers["cache-control"]), /^max-age=(35\d\d|3600), public, no-transform, must-revalidate$/);
      assert.ok(r.headers.expires && r.headers["last-modified"]);
      assert.match(opensslRead(caPem, req, r.rawPayload).out, /Cert Status: good/);
    }
  });

  test("the CA key signs: the responder ID is the CA key's hash, no certificate is sent", async () => {
    const req = opensslRequest(caPem, [f.agent.certPem], { nonce: false });
    const o = opensslRead(caPem, req, (await post(req)).rawPayload);
    const aki = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(run(["x509", "-noout", "-text", "-in", file(caPem)]).out)![1]!.replace(/:/g, "");
    assert.match(o.out, new RegExp(`Responder Id: ${aki}`));
    assert.doesNotMatch(o.out, /Certificate:\n\s*Data:/);
  });
});

describe("the responder's statuses and cache", () => {
  test("tryLater when nobody can sign, internalError on an unexpected failure, never a throw", async () => {
    const f = await makeFixture();
    const caPem = await f.ca.caCertificatePem();
    const req = opensslRequest(caPem, [f.agent.certPem], { nonce: false });
    const unavailable = new OcspResponder({ reader: () => f.ca, signer: () => { throw new OcspUnavailable("no key"); }, ttlSeconds: () => 60 });
    const a = await unavailable.respond(req);
    assert.equal(a.status, "tryLater");
    assert.equal(a.der.toString("hex"), "30030a0103");
    const broken = new OcspResponder({ reader: () => f.ca, signer: () => Promise.reject(new Error("boom")), ttlSeconds: () => 60 });
    const b = await broken.respond(req);
    assert.equal(b.status, "internalError");
    assert.equal(b.der.toString("hex"), "30030a0102");
    await f.app.close();
  });

  test("nonce'd answers are never cached; identical questions in flight share one signature", async () => {
    const f = await makeFixture();
    const caPem = await f.ca.caCertificatePem();
    let signers = 0;
    const byCa = caSigner(() => f.ca);
    const r = new OcspResponder({ reader: () => f.ca, signer: () => (signers++, byCa()), ttlSeconds: () => 60 });
    await r.respond(opensslRequest(caPem, [f.agent.certPem], { nonce: true }));
    assert.equal(r.cacheSize, 0);
    const req = opensslRequest(caPem, [f.agent.certPem], { nonce: false });
    const answers = await Promise.all(Array.from({ length: 8 }, () => r.respond(req)));
    assert.equal(r.cacheSize, 1);
    assert.equal(new Set(answers.map((a) => a.der.toString("hex"))).size, 1, "one signature for all eight");
    assert.ok(signers >= 9);
    assert.equal((await r.respond(req)).cached, true);
    await f.app.close();
  });
});

describe("the delegated responder (in process)", () => {
  test("is issued once, kept in the ssldir, used for answers, renewed at two thirds of its life, replaced when revoked", async () => {
    const f = await makeFixture({ ocspSignerTtl: "30d" });
    const caPem = await f.ca.caCertificatePem();
    let now = new Date();
    const files = new Ssldir(path.join(dir, "ssl-delegated"));
    const signer = new DelegatedSigner({ ca: () => f.ca, settings: () => f.settings, files, log: f.deps.log, clock: () => now });
    const responder = new OcspResponder({ reader: () => f.ca, signer: signer.current, ttlSeconds: () => 600, clock: () => now });
    const s1 = await signer.current();
    const cert1 = signer.certificate!;
    assert.equal(cert1.commonName, responderName("ca.test"));
    assert.ok(fs.existsSync(files.paths(responderName("ca.test")).key));
    const text = run(["x509", "-noout", "-text", "-in", file(certToPem(cert1.der))]).out;
    assert.match(text, /OCSP Signing/);
    assert.match(text, /OCSP No Check/);
    assert.doesNotMatch(text, /TLS Web Client Authentication|34380\.1\.3\.39/);
    assert.equal(await signer.current(), s1, "the same signer while it is young");

    const req = opensslRequest(caPem, [f.agent.certPem], { nonce: false });
    const answer = await responder.respond(req);
    const o = opensslRead(caPem, req, answer.der);
    assert.equal(o.code, 0, o.out);
    assert.match(o.out, /Response verify OK/);
    assert.match(o.out, /Cert Status: good/);

    // A new signer object (a restart) finds the same certificate in the ssldir.
    const reloaded = new DelegatedSigner({ ca: () => f.ca, settings: () => f.settings, files, log: f.deps.log, clock: () => now });
    await reloaded.current();
    assert.equal(reloaded.certificate!.serial, cert1.serial);

    // Two thirds in: still answering with the old one while the new one is issued.
    now = new Date(now.getTime() + 21 * 86_400_000);
    assert.equal(await signer.current(), s1);
    for (let i = 0; i < 100 && signer.certificate!.serial === cert1.serial; i++) await new Promise((r) => setTimeout(r, 20));
    const cert2 = signer.certificate!;
    assert.notEqual(cert2.serial, cert1.serial);
    assert.ok(cert2.notAfter >= cert1.notAfter);
    const after2 = await responder.respond(req);
    assert.match(opensslRead(caPem, req, after2.der).out, /Cert Status: good/);

    // Revoked (key compromise): the next answer is signed by a new one.
    await f.ca.revoke([responderName("ca.test")], TEST_BY);
    await signer.current();
    assert.notEqual(signer.certificate!.serial, cert2.serial);
    await f.app.close();
  });

  test("the CA signer is one object per CA certificate (the cache survives reloads of the same CA)", async () => {
    const f = await makeFixture();
    const s = caSigner(() => f.ca);
    assert.equal(await s(), await s());
    await f.app.close();
  });
});

describe("two servers on one PostgreSQL store", { skip: pgUnavailable() }, () => {
  test("a revoke made through one is in the next answer of the other, cached or not", async () => {
    const server = await startPg();
    const [a, b] = await Promise.all([PostgresStore.open(server.url), PostgresStore.open(server.url)]);
    try {
      await setupCa(a, { caName: "Puppet CA: pg.test", key: { type: "ec", curve: "P-256" }, caTtl: 86_400 * 365, now: new Date() });
      const settings = testSettings();
      const caA = new CertificateAuthority({ store: a, settings });
      const caB = new CertificateAuthority({ store: b, settings });
      const victim = await generateCertificate(caB, "victim.pg.test", { by: TEST_BY, key: { type: "ec", curve: "P-256" } });
      const caPem = await caA.caCertificatePem();
      const responder = new OcspResponder({ reader: () => caA, signer: caSigner(() => caA), ttlSeconds: () => 600 });
      const req = opensslRequest(caPem, [victim.certPem], { nonce: false });
      assert.match(opensslRead(caPem, req, (await responder.respond(req)).der).out, /Cert Status: good/);
      const cached = await responder.respond(req);
      assert.equal(cached.cached, true);
      await caB.revoke(["victim.pg.test"], TEST_BY, "cessationOfOperation");
      const o = opensslRead(caPem, req, (await responder.respond(req)).der);
      assert.equal(o.code, 0, o.out);
      assert.match(o.out, /Cert Status: revoked/);
      assert.match(o.out, /Revocation Reason: cessationOfOperation/);
    } finally {
      await a.close();
      await b.close();
      await server.stop();
    }
  });
});

describe("fleetca server answers openssl ocsp -url over HTTPS", () => {
  const servers: ServerProcess[] = [];
  after(async () => {
    for (const s of servers) await s.stop("SIGKILL");
  });

  async function withServer(name: string, config: string): Promise<{ s: ServerProcess; caFile: string; agent: string; victim: string }> {
    const s = await startServer({ dir: path.join(dir, name), config });
    servers.push(s);
    const caFile = path.join(s.ssldir, "certs/ca.pem");
    const gen = async (n: string) => {
      const r = await fleetcaProcess(["ca", "generate", n, "--cadir", s.cadir, "--config", s.configFile, "--out", s.dir]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      return path.join(s.cadir, "signed", `${n}.pem`);
    };
    return { s, caFile, agent: await gen("agent.test"), victim: await gen("victim.test") };
  }

  const ask = (s: ServerProcess, caFile: string, cert: string, extra: string[] = []) =>
    run(["ocsp", "-url", `${s.url}/ocsp`, "-issuer", caFile, "-cert", cert, "-CAfile", caFile, "-resp_text", ...extra]);

  for (const signer of ["delegated", "ca"] as const) {
    test(`signed by ${signer === "ca" ? "the CA key" : "the delegated responder"}: good, nonce or not; a CLI revoke in another process is in the next answer; unknown`, async () => {
      const { s, caFile, agent, victim } = await withServer(`server-${signer}`, `key_type: ec\nocsp_signer: ${signer}\n`);
      for (const nonce of [[], ["-no_nonce"]]) {
        const o = ask(s, caFile, agent, nonce);
        assert.equal(o.code, 0, o.out);
        assert.match(o.out, /Response verify OK/);
        assert.match(o.out, new RegExp(`${agent.replace(/[.]/g, "\\.")}: good`));
        if (nonce.length === 0) assert.match(o.out, /OCSP Nonce/);
        else assert.doesNotMatch(o.out, /OCSP Nonce/);
        assert.doesNotMatch(o.out, /Nonce Verify error|WARNING/);
      }
      const text = ask(s, caFile, agent, ["-no_nonce"]).out;
      if (signer === "delegated") {
        assert.match(text, /OCSP Signing/);
        assert.match(text, /OCSP No Check/);
        assert.match(s.stderr(), /OCSP: https:\/\/127\.0\.0\.1:\d+\/ocsp, signed by the responder certificate ocsp-responder\.localhost/);
      } else {
        assert.doesNotMatch(text, /OCSP Signing/);
        assert.match(s.stderr(), /signed by the CA key/);
      }
      // Asked twice without a nonce (the second from the cache), then revoked by the CLI in another process.
      assert.match(ask(s, caFile, victim, ["-no_nonce"]).out, /: good/);
      assert.match(ask(s, caFile, victim, ["-no_nonce"]).out, /: good/);
      const r = await fleetcaProcess(["ca", "revoke", "victim.test", "--reason", "keyCompromise", "--cadir", s.cadir, "--config", s.configFile]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      for (const nonce of [["-no_nonce"], []]) {
        const o = ask(s, caFile, victim, nonce);
        assert.equal(o.code, 0, o.out);
        assert.match(o.out, /: revoked/);
        assert.match(o.out, /Reason: keyCompromise/);
        assert.match(o.out, /Revocation Time: /);
      }
      // A certificate this CA never issued (another CA's, asked about with that CA as issuer).
      const other = await makeFixture();
      const otherCa = file(await other.ca.caCertificatePem());
      const o = run(["ocsp", "-url", `${s.url}/ocsp`, "-issuer", otherCa, "-cert", file(other.agent.certPem), "-CAfile", caFile, "-resp_text"]);
      assert.match(o.out, /: unknown/);
      await other.app.close();
      // Malformed, over real HTTPS: 200 and malformedRequest.
      const caPem = fs.readFileSync(caFile, "utf8");
      const bad = await httpsRequest(`https://localhost:${s.port}/ocsp`, { method: "POST", body: "nonsense", headers: { "content-type": "application/ocsp-request" }, ca: caPem });
      assert.equal(bad.status, 200);
      assert.equal(Buffer.from(bad.body, "latin1").toString("hex"), "30030a0101");
      if (signer === "delegated") {
        // The responder's certificate is no client certificate: no admin, not even a node.
        const name = "ocsp-responder.localhost";
        const cert = { certPem: fs.readFileSync(path.join(s.ssldir, "certs", `${name}.pem`), "utf8"), keyPem: fs.readFileSync(path.join(s.ssldir, "private_keys", `${name}.pem`), "utf8") };
        const admin = await httpsRequest(`https://localhost:${s.port}/puppet-ca/v1/certificate_statuses/any`, { cert, ca: caPem });
        assert.equal(admin.status, 403);
        const node = await httpsRequest(`https://localhost:${s.port}/puppet-ca/v1/expirations`, { cert, ca: caPem });
        assert.equal(node.status, 403);
      }
      assert.equal(await s.stop(), 0);
    });
  }
});
