/**
 * A planned rotation (issue 11, "Beyond the seed"): `fleetca ca regenerate --mode rotate` under
 * a running `fleetca server`. During the overlap the server presents its old-CA certificate
 * (agents enrolled under the old CA verify it), accepts client certificates of both CAs,
 * serves both CA certificates (the new one first) and both CRLs, which `openssl verify
 * -crl_check_all` (what a Puppet agent's certificate_revocation = chain does) accepts for a
 * certificate of either CA; a node presenting its old certificate to certificate_renewal gets
 * one of the new CA with its extensions and leaves the tracking list; `fleetca agent renew`
 * (a real process) moves a node, CA bundle and CRLs included, and a `fleetca agent bootstrap` run
 * does so by itself once it has refreshed the CA bundle. After `--end-overlap` the server
 * presents its new-CA certificate, serves the new CA alone, and refuses old certificates with
 * a log line naming the node, while the moved nodes carry on.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { certToPem, parseCertificateChain, parseCertificatePem } from "../src/pki/certificate.js";
import { crlStateFromDer } from "../src/pki/crl.js";
import { fingerprint } from "../src/pki/fingerprint.js";
import { PP_REG_CERT_EXT } from "../src/pki/oids.js";
import { pemBlocks } from "../src/pki/pem.js";
import { fleetca, fleetcaProcess } from "./helpers/cli.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";
import { asNode, enrollSimulated, httpsRequest } from "./helpers/simulated-node.js";

const CA = "/puppet-ca/v1";
const PP_ROLE = `${PP_REG_CERT_EXT}.13`;
let server: ServerProcess | undefined;
after(async () => void (await server?.stop()));

const enroll = (url: string, caPem: string, name: string, role?: string) => enrollSimulated(url, caPem, name, role ? [{ oid: PP_ROLE, value: role }] : []);

async function ok(args: string[]) {
  const r = await fleetca(args, tmpDir());
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * `openssl verify` of a certificate against a CA bundle; with CRLs, as a Puppet agent's
 * certificate_revocation = chain checks: every CA of the chain against its CRL.
 */
function verifyChain(bundlePem: string, crlsPem: string | undefined, certPem: string) {
  const d = tmpDir();
  const f = (n: string, t: string) => (fs.writeFileSync(path.join(d, n), t), path.join(d, n));
  const crl = crlsPem === undefined ? [] : ["-crl_check_all", "-CRLfile", f("crl.pem", crlsPem)];
  const r = openssl(["verify", ...crl, "-CAfile", f("ca.pem", bundlePem), f("cert.pem", certPem)]);
  fs.rmSync(d, { recursive: true, force: true });
  return r;
}

const signedBy = (caPem: string, certPem: string) => verifyChain(caPem, undefined, certPem);
const crls = (pem: string) => pemBlocks(pem).filter((b) => b.label === "X509 CRL").map((b) => b.der);
const fp = (pem: string) => fingerprint(parseCertificatePem(pem).der);

test("rotate: both CAs during the overlap, renewal into the new CA, `fleetca agent renew`; the new CA alone after it", { timeout: 180_000 }, async () => {
  const dir = tmpDir("fleetca-rotate-");
  server = await startServer({ dir, config: "key_type: ec\nautosign: true\ndns_alt_names: localhost,IP:127.0.0.1\n" });
  const { url, cadir } = server;
  const oldCaPem = fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8");

  // Under the old CA: a fleetca agent (a real process) and three nodes through the API.
  const agentDir = path.join(dir, "moving");
  const agentAs = (name: string, verb: string, ...extra: string[]) =>
    fleetcaProcess(["agent", verb, "--ssldir", path.join(dir, name), "--certname", `${name}.example.com`, "--server", "127.0.0.1", "--port", String(server!.port), ...extra]);
  const agent = (verb: string, ...extra: string[]) => agentAs("moving", verb, ...extra);
  for (const name of ["moving", "auto"]) {
    const boot = await agentAs(name, "bootstrap", "--key-type", "ec", "--waitforcert", "0");
    assert.equal(boot.code, 0, boot.stdout + boot.stderr);
  }
  const stays = await enroll(url, oldCaPem, "stays.example.com");
  const revoked = await enroll(url, oldCaPem, "revoked.example.com");
  const role = await enroll(url, oldCaPem, "role.example.com", "webserver");

  const regen = await ok(["ca", "regenerate", "--mode", "rotate", "--overlap", "1h", "--config", server.configFile, "--cadir", cadir, "--certname", "localhost", "--out", path.join(dir, "infra"), "--backup-out", path.join(dir, "backup.fleetca")]);
  assert.match(regen.stderr, /old CA trusted until/);
  const newCaPem = fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8");
  assert.notEqual(fp(newCaPem), fp(oldCaPem));
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("ca changed"));

  // The server still presents its old-CA certificate: a client trusting only the old CA connects.
  const bundle = await httpsRequest(`${url}${CA}/certificate/ca`, { ca: oldCaPem });
  assert.equal(bundle.status, 200, "the server's certificate verifies against the old CA during the overlap");
  assert.deepEqual(parseCertificateChain(bundle.body).map((c) => fingerprint(c.der)), [fp(newCaPem), fp(oldCaPem)], "the new CA first, then the old one");
  const crl = await httpsRequest(`${url}${CA}/certificate_revocation_list/ca`, { ca: oldCaPem });
  assert.equal(crl.status, 200);
  const [newCrl, oldCrl] = crls(crl.body);
  assert.ok(newCrl && oldCrl && crls(crl.body).length === 2, "two CRLs");
  assert.equal(crlStateFromDer(oldCrl).nextUpdate > new Date(Date.now() + 3_600_000), true, "the old CA's CRL outlives the overlap");
  for (const [der, caPem] of [[newCrl, newCaPem], [oldCrl, oldCaPem]] as const) {
    const d = tmpDir();
    fs.writeFileSync(path.join(d, "crl.pem"), `-----BEGIN X509 CRL-----\n${der.toString("base64")}\n-----END X509 CRL-----\n`);
    fs.writeFileSync(path.join(d, "ca.pem"), caPem);
    assert.match(openssl(["crl", "-noout", "-in", path.join(d, "crl.pem"), "-CAfile", path.join(d, "ca.pem")]).out, /verify OK/);
  }

  // Client certificates of the old CA are accepted, unless revoked meanwhile.
  assert.equal((await asNode(url, oldCaPem, stays)).status, 200, "an old-CA certificate is a node during the overlap");
  await ok(["ca", "revoke", "revoked.example.com", "--cadir", cadir]);
  for (let i = 0; (await asNode(url, oldCaPem, revoked)).status !== 403; i++) {
    assert.ok(i < 100, "a certificate revoked during the overlap is refused");
    await new Promise((r) => setTimeout(r, 100));
  }

  // Renewal with the old certificate: a certificate of the new CA, same name and extensions.
  const renewal = await httpsRequest(`${url}${CA}/certificate_renewal`, { method: "POST", body: "", headers: { "content-type": "text/plain" }, ca: oldCaPem, cert: role });
  assert.equal(renewal.status, 200, renewal.body);
  const renewed = parseCertificatePem(renewal.body);
  assert.equal(renewed.commonName, "role.example.com");
  assert.ok(signedBy(newCaPem, renewal.body).ok, "issued by the new CA");
  assert.ok(!signedBy(oldCaPem, renewal.body).ok);
  assert.deepEqual(renewed.extensions.find((e) => e.oid === PP_ROLE)?.value, parseCertificatePem(role.certPem).extensions.find((e) => e.oid === PP_ROLE)?.value, "pp_role carried");
  const refused = await httpsRequest(`${url}${CA}/certificate_renewal`, { method: "POST", body: "", headers: { "content-type": "text/plain" }, ca: oldCaPem, cert: revoked });
  assert.equal(refused.status, 403, "a revoked old certificate cannot be renewed");

  // Every agent, whichever CA issued its certificate, passes the chain check with the served bundle and CRLs.
  for (const certPem of [stays.certPem, renewal.body]) {
    const v = verifyChain(bundle.body, crl.body, certPem);
    assert.ok(v.ok, v.out);
  }
  assert.ok(!verifyChain(bundle.body, crl.body, certToPem(parseCertificatePem(stays.certPem).der)).out.includes("revoked"));

  // `fleetca agent renew`: a real process moves the node, CA bundle and CRLs with it.
  const moved = await agent("renew");
  assert.equal(moved.code, 0, moved.stdout + moved.stderr);
  const ssl = (rel: string) => fs.readFileSync(path.join(agentDir, rel), "utf8");
  assert.deepEqual(parseCertificateChain(ssl("certs/ca.pem")).map((c) => fingerprint(c.der)), [fp(newCaPem), fp(oldCaPem)], "its bundle now holds both CAs");
  assert.equal(crls(ssl("crl.pem")).length, 2);
  assert.ok(signedBy(newCaPem, ssl("certs/moving.example.com.pem")).ok, "its certificate is the new CA's");
  assert.ok(verifyChain(ssl("certs/ca.pem"), ssl("crl.pem"), ssl("certs/moving.example.com.pem")).ok);

  // A fleetca agent run (bootstrap, as a timer would) moves by itself once its CA refresh brings the two-CA bundle.
  const auto = await agentAs("auto", "bootstrap", "--ca-refresh-interval", "0");
  assert.equal(auto.code, 0, auto.stdout + auto.stderr);
  assert.match(auto.stdout, /Certificate: renewed/);
  assert.ok(signedBy(newCaPem, fs.readFileSync(path.join(dir, "auto", "certs", "auto.example.com.pem"), "utf8")).ok, "renewed into the new CA");

  const status = JSON.parse((await ok(["ca", "regenerate", "--status", "--format", "json", "--cadir", cadir])).stdout) as { remaining: number; nodes: { name: string; lastSeenAddress: string | null }[] };
  const left = status.nodes.map((n) => n.name);
  for (const n of ["moving.example.com", "auto.example.com", "role.example.com", "localhost"]) assert.ok(!left.includes(n), `${n} moved to the new CA: ${left.join(", ")}`);
  assert.ok(left.includes("stays.example.com"));
  assert.equal(status.nodes.find((n) => n.name === "stays.example.com")?.lastSeenAddress, "127.0.0.1", "seen with its old certificate");

  // The overlap ends (here on purpose, as an operator may once every node has moved).
  const end = await ok(["ca", "regenerate", "--end-overlap", "--cadir", cadir]);
  assert.match(end.stdout, /no longer trusted/);
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("rotation overlap ended"));
  const after = await httpsRequest(`${url}${CA}/certificate/ca`, { ca: newCaPem });
  assert.equal(after.status, 200, "the server now presents its new-CA certificate");
  assert.equal(after.body, newCaPem, "the bundle is the new CA alone");
  await assert.rejects(httpsRequest(`${url}${CA}/certificate/ca`, { ca: oldCaPem }), "a client trusting only the old CA no longer verifies the server");
  const crlAfter = await httpsRequest(`${url}${CA}/certificate_revocation_list/ca`, { ca: newCaPem });
  assert.equal(crls(crlAfter.body).length, 1);
  assert.equal((await asNode(url, newCaPem, stays)).status, 403, "an old certificate is refused");
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.includes("stays.example.com must re-enroll"));
  assert.equal((await asNode(url, newCaPem, { ...role, certPem: renewal.body })).status, 200, "the renewed certificate works");
  assert.match(end.stdout, /3 node\(s\) had not moved/, "stays, revoked and the server's OCSP responder");
  const back = await enroll(url, newCaPem, "stays.example.com");
  assert.ok(signedBy(newCaPem, back.certPem).ok, "its old certificate was removed with the overlap: the node enrolls again under its name");
  const again = await agent("bootstrap");
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /mutual TLS with https:\/\/127\.0\.0\.1:\d+ OK/, "the moved fleetca agent verifies the new server certificate and is accepted");
});
