/**
 * The server on a real socket (127.0.0.1, ephemeral port) over the file store: TLS client
 * certificates, admin versus plain certificates, revoked and foreign certificates, and a
 * revoke made by the `fleetca ca revoke` CLI process enforced within a second.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { generateCertificate } from "../src/ca/generate.js";
import { setupCa } from "../src/ca/setup.js";
import { Ssldir } from "../src/host/ssldir.js";
import { ensureCa, ensureServerIdentity } from "../src/server/identity.js";
import { listen, type RunningServer } from "../src/server/listen.js";
import { auditLogger } from "../src/server/log.js";
import { FileStore } from "../src/store/file/index.js";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { fleetcaProcess } from "./helpers/cli.js";
import { httpsRequest, type RequestOptions } from "./helpers/https-client.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { tmpDir, verifyWithCrl } from "./helpers/openssl.js";
import { EC, expiredIdentity, memoryLogger, TEST_BY, testSettings } from "./helpers/server-fixture.js";

const V1 = "/puppet-ca/v1";
const dir = tmpDir("fleetca-tls-");
const cadir = path.join(dir, "ca");
const settings = testSettings({ cadir, certname: "localhost", keyType: "ec" });
const { logs, log } = memoryLogger();
let ca: CertificateAuthority;
let server: RunningServer;
let caPem: string;
let adminCert: { certPem: string; keyPem: string };

type Cert = { certPem: string; keyPem: string };

async function issue(name: string): Promise<Cert> {
  const g = await generateCertificate(ca, name, { by: TEST_BY, key: EC });
  return { certPem: g.certPem, keyPem: g.keyPem };
}

function get(p: string, o: Partial<RequestOptions> = {}) {
  return httpsRequest(`${server.url}${p}`, { ca: caPem, servername: "localhost", ...o });
}

before(async () => {
  const store = new FileStore(cadir);
  await ensureCa(store, settings);
  ca = new CertificateAuthority({ store, settings, observe: auditLogger(log) });
  const files = new Ssldir(path.join(dir, "ssl"));
  const id = await ensureServerIdentity(ca, settings, files, "testhost");
  caPem = await ca.caCertificatePem();
  adminCert = { certPem: id.certPem, keyPem: id.keyPem };
  server = await listen({ ca, settings, log }, { keyPem: id.keyPem, certPem: id.certPem, caPem }, { host: "127.0.0.1", port: 0 });
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("TLS client certificates", () => {
  test("the server presents its certificate for its certname, which openssl verifies", async () => {
    const pem = fs.readFileSync(path.join(dir, "ssl", "certs", "localhost.pem"), "utf8");
    const r = verifyWithCrl(caPem, await ca.crlPem(), pem);
    assert.ok(r.ok, r.out);
    assert.equal((fs.statSync(path.join(dir, "ssl", "private_keys", "localhost.pem")).mode & 0o777).toString(8), "600");
    assert.equal((await get("/status/v1/simple")).body, "running");
  });

  test("without a certificate: CA, CRL, CSR and certificates only", async () => {
    assert.equal((await get(`${V1}/certificate/ca`)).body, caPem);
    assert.equal((await get(`${V1}/certificate_revocation_list/ca`)).status, 200);
    const denied = await get(`${V1}/expirations`);
    assert.equal(denied.status, 403);
    assert.equal(denied.headers["content-type"], undefined);
  });

  test("a plain agent certificate is authenticated but not admin; the server's own (pp_cli_auth) is admin", async () => {
    const agent = await issue("tls-agent.test");
    assert.ok(verifyWithCrl(caPem, await ca.crlPem(), agent.certPem).ok);
    assert.equal((await get(`${V1}/expirations`, { cert: agent })).status, 200);
    assert.equal((await get(`${V1}/certificate_statuses/all`, { cert: agent })).status, 403);
    const admin = await get(`${V1}/certificate_statuses/all`, { cert: adminCert, headers: { accept: "application/json" } });
    assert.equal(admin.status, 200);
    assert.ok((JSON.parse(admin.body) as { name: string }[]).some((s) => s.name === "tls-agent.test"));
    assert.ok(logs.some((l) => l.msg === "request" && l.client === "tls-agent.test"));
  });

  test("a certificate from another CA is not authenticated (the handshake still succeeds)", async () => {
    const other = new CertificateAuthority({ store: new MemoryStore(), settings });
    await setupCa(other.store, { caName: "Puppet CA: localhost", key: EC, caTtl: 86400, now: new Date() });
    const g = await generateCertificate(other, "localhost", { by: TEST_BY, key: EC, cliAuth: true });
    const r = await get(`${V1}/certificate_statuses/all`, { cert: { certPem: g.certPem, keyPem: g.keyPem } });
    assert.equal(r.status, 403);
    assert.equal((await get(`${V1}/certificate/ca`, { cert: { certPem: g.certPem, keyPem: g.keyPem } })).status, 200);
  });

  test("an expired certificate signed by this CA is not authenticated (the handshake still succeeds)", async () => {
    const expired = await expiredIdentity(ca, "tls-expired.test", { cliAuth: true });
    const r = await get(`${V1}/expirations`, { cert: expired });
    assert.equal(r.status, 403);
    assert.ok(logs.some((l) => String(l.msg).includes("(client certificate expired) denied by rule 'expirations'")));
    assert.equal((await get(`${V1}/certificate/ca`, { cert: expired })).status, 200);
  });

  test("a revoked certificate is refused, even on a keep-alive connection opened before the revoke", async () => {
    const victim = await issue("tls-victim.test");
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(`${V1}/expirations`, { cert: victim, agent });
      assert.equal(first.status, 200);
      await ca.revoke(["tls-victim.test"], TEST_BY);
      const second = await get(`${V1}/expirations`, { cert: victim, agent });
      assert.equal(second.localPort, first.localPort, "same connection");
      assert.equal(second.status, 403);
      assert.ok(!verifyWithCrl(caPem, await ca.crlPem(), victim.certPem).ok, "openssl agrees it is revoked");
    } finally {
      agent.destroy();
    }
  });

  test("`fleetca ca revoke` in another process is enforced within a second", async () => {
    const victim = await issue("cli-victim.test");
    assert.equal((await get(`${V1}/expirations`, { cert: victim })).status, 200);
    const cli = await fleetcaProcess(["ca", "revoke", "--cadir", cadir, "cli-victim.test"]);
    assert.equal(cli.code, 0, cli.stderr);
    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 3000) {
      status = (await get(`${V1}/expirations`, { cert: victim })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 50));
    }
    const took = Date.now() - revokedAt;
    assert.equal(status, 403);
    assert.ok(took < 1000, `enforced after ${took} ms`);
    // The CRL the server hands out carries it too.
    const crl = (await get(`${V1}/certificate_revocation_list/ca`)).body;
    assert.ok(!verifyWithCrl(caPem, crl, victim.certPem).ok);
  });

  test("certificate_renewal over TLS: the client gets a new certificate for its own key", async () => {
    const holder = await issue("tls-renew.test");
    const r = await get(`${V1}/certificate_renewal`, { method: "POST", cert: holder, headers: { "content-type": "text/plain" } });
    assert.equal(r.status, 200, r.body);
    const renewed = parseCertificatePem(r.body);
    assert.equal(renewed.commonName, "tls-renew.test");
    assert.ok(renewed.spki.equals(parseCertificatePem(holder.certPem).spki));
    assert.ok(verifyWithCrl(caPem, await ca.crlPem(), r.body).ok);
  });

  test("reloadTls swaps the server certificate for new connections", async () => {
    const fresh = await generateCertificate(ca, "localhost2", { by: TEST_BY, key: EC, dnsAltNames: ["localhost"] });
    server.reloadTls({ keyPem: fresh.keyPem, certPem: fresh.certPem, caPem });
    const r = await new Promise<string>((resolve, reject) => {
      const req = https.get(`${server.url}/status/v1/simple`, { ca: caPem, servername: "localhost", agent: false }, (res) => {
        const peer = (res.socket as import("node:tls").TLSSocket).getPeerCertificate();
        res.resume();
        resolve(peer.subject.CN as string);
      });
      req.on("error", reject);
    });
    assert.equal(r, "localhost2");
  });
});
