/**
 * What a real Puppet 7 agent (Debian's puppet-agent 7.23) needs in a planned rotation
 * (`fleetca ca regenerate --mode rotate`; docs/regenerate.md says it in words):
 * - during the overlap it carries on untouched: it verifies the server (its old-CA
 *   certificate) with its cached old CA and CRL, and the server accepts its old client
 *   certificate (`puppet filebucket --remote` makes one mutual-TLS request);
 * - it has no renewal of its own (no hostcert_renewal_interval setting in 7.23);
 * - `fleetca agent renew` run on its ssldir during the overlap moves it: `puppet ssl verify`
 *   accepts the new-CA certificate with the two-CA bundle and both CRLs
 *   (certificate_revocation = chain), and after the overlap it works with the new server;
 * - fetching the two-CA bundle alone (certs/ca.pem and crl.pem deleted, `puppet ssl
 *   bootstrap`) keeps the server verified after the overlap, but its old certificate is then
 *   refused, the server's log naming it;
 * - a node left alone cannot verify the new server certificate after the overlap; both
 *   re-enroll after `puppet ssl clean --localca`, as after a compromise
 *   (test/regenerate-drill.test.ts), where that is needed at once.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { parseCertificateChain, parseCertificatePem, verifySignedBy } from "../src/pki/certificate.js";
import { fingerprint } from "../src/pki/fingerprint.js";
import { fleetca, fleetcaProcess } from "./helpers/cli.js";
import { tmpDir } from "./helpers/openssl.js";
import { agentCert, makeAgent, puppetCommand, puppetMissing, puppetSsl, type Agent, type PuppetResult } from "./helpers/puppet.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

let server: ServerProcess | undefined;
after(async () => void (await server?.stop()));

const expectOk = (r: PuppetResult, what: string) => assert.equal(r.code, 0, `${what}:\n${r.out}`);
const fp = (pem: string) => fingerprint(parseCertificatePem(pem).der);
/** One mutual-TLS request with the agent's certificate (a HEAD of a file bucket entry, which fleetca then forbids). */
function mutualTls(a: Agent, port: number): Promise<PuppetResult> {
  const file = path.join(a.root, "bucket.txt");
  fs.writeFileSync(file, "a file to back up\n");
  return puppetCommand(["filebucket", "backup", file, "--remote"], a, port);
}
const bucketRequests = (s: ServerProcess) => s.logs().filter((l) => l.msg === "request" && String(l.path).startsWith("/puppet/v3/file_bucket_file"));
/** The server's log line for the agent's last mutual-TLS request (which client it saw), once written: the server writes its lines within 100 ms. */
async function lastBucketRequest(s: ServerProcess, seenBefore: number): Promise<Record<string, unknown> | undefined> {
  await s.waitForLog(() => bucketRequests(s).length > seenBefore);
  return bucketRequests(s).at(-1);
}

test("a real Puppet 7 agent in a planned rotation: untouched during the overlap; moved by fleetca agent renew; re-enrolled if left alone", { skip: puppetMissing() ?? false, timeout: 400_000 }, async (t) => {
  const dir = tmpDir("fleetca-puppet-rotate-");
  server = await startServer({ dir, config: "key_type: ec\nautosign: true\n" });
  const { cadir, port } = server;
  const oldCaPem = fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8");
  const moved = makeAgent(path.join(dir, "agents"), "moved.example.com");
  const alone = makeAgent(path.join(dir, "agents"), "alone.example.com");
  const bundleOnly = makeAgent(path.join(dir, "agents"), "bundle-only.example.com");
  for (const a of [moved, alone, bundleOnly]) expectOk(await puppetSsl("bootstrap", a, port, ["--waitforcert", "0"]), `${a.certname} enrolls`);

  // Puppet 7.23 has no certificate renewal of its own: it knows no hostcert_renewal_interval.
  const settings = await puppetCommand(["config", "print", "all"], moved, port);
  expectOk(settings, "puppet config print all");
  assert.match(settings.out, /^crl_refresh_interval = /m);
  assert.doesNotMatch(settings.out, /hostcert_renewal_interval|renew/);

  const r = await fleetca(["ca", "regenerate", "--mode", "rotate", "--overlap", "1h", "--config", server.configFile, "--cadir", cadir, "--certname", "localhost", "--out", path.join(dir, "infra"), "--backup-out", path.join(dir, "backup.fleetca")], dir);
  assert.equal(r.code, 0, r.stderr);
  const newCaPem = fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8");
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("ca changed"));

  // During the overlap: nothing done on the node, and it works (server verified, client accepted).
  let seen = bucketRequests(server).length;
  const during = await mutualTls(alone, port);
  assert.match(during.out, /Error 403 on SERVER: Forbidden/, `the TLS handshake succeeded both ways:\n${during.out}`);
  assert.equal((await lastBucketRequest(server, seen))?.client, "alone.example.com", "the server took its old-CA certificate as the node's");

  // `fleetca agent renew` on the Puppet agent's ssldir moves it: certificate, CA bundle and CRLs.
  const renew = await fleetcaProcess(["agent", "renew", "--ssldir", moved.ssldir, "--certname", moved.certname, "--server", "localhost", "--port", String(port)]);
  assert.equal(renew.code, 0, renew.stdout + renew.stderr);
  const cert = parseCertificatePem(agentCert(moved));
  assert.ok(verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, parseCertificatePem(newCaPem).spki), "its certificate is the new CA's");
  const bundle = parseCertificateChain(fs.readFileSync(path.join(moved.ssldir, "certs", "ca.pem"), "utf8")).map((c) => fingerprint(c.der));
  assert.deepEqual(bundle, [fp(newCaPem), fp(oldCaPem)]);
  const verify = await puppetSsl("verify", moved, port);
  expectOk(verify, "puppet ssl verify of the renewed certificate with both CAs and both CRLs");
  assert.match(verify.out, new RegExp(`Verified CA certificate 'CN=Puppet CA: localhost' fingerprint \\(SHA256\\) ${fp(newCaPem)}`), verify.out);
  // The two-CA bundle and both CRLs, fetched by Puppet itself once its copies are gone.
  fs.rmSync(path.join(bundleOnly.ssldir, "certs", "ca.pem"));
  fs.rmSync(path.join(bundleOnly.ssldir, "crl.pem"));
  expectOk(await puppetSsl("bootstrap", bundleOnly, port, ["--waitforcert", "0"]), "bootstrap fetches the bundle and CRLs again");
  assert.deepEqual(parseCertificateChain(fs.readFileSync(path.join(bundleOnly.ssldir, "certs", "ca.pem"), "utf8")).map((c) => fingerprint(c.der)), [fp(newCaPem), fp(oldCaPem)]);
  assert.equal(fs.readFileSync(path.join(bundleOnly.ssldir, "crl.pem"), "utf8").match(/BEGIN X509 CRL/g)?.length, 2);

  const status = JSON.parse((await fleetca(["ca", "regenerate", "--status", "--format", "json", "--cadir", cadir], dir)).stdout) as { nodes: { name: string }[] };
  assert.deepEqual(status.nodes.map((n) => n.name).filter((n) => n.endsWith(".example.com")), ["alone.example.com", "bundle-only.example.com"]);

  // The overlap ends: the server presents its new-CA certificate.
  assert.equal((await fleetca(["ca", "regenerate", "--end-overlap", "--cadir", cadir], dir)).code, 0);
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("rotation overlap ended"));
  seen = bucketRequests(server).length;
  const movedAfter = await mutualTls(moved, port);
  assert.match(movedAfter.out, /Error 403 on SERVER: Forbidden/, `the moved node still talks to the server:\n${movedAfter.out}`);
  assert.equal((await lastBucketRequest(server, seen))?.client, "moved.example.com");

  // With the new bundle but its old certificate: the server is verified, the node refused and named.
  const bundleAfter = await mutualTls(bundleOnly, port);
  t.diagnostic(`bundle only, after the overlap: ${bundleAfter.out.trim()}`);
  assert.match(bundleAfter.out, /Error 403 on SERVER: Forbidden/, bundleAfter.out);
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.includes("bundle-only.example.com must re-enroll"));

  // Left alone, the node's cached CA cannot verify the server any more.
  const aloneAfter = await mutualTls(alone, port);
  t.diagnostic(`left alone, after the overlap: ${aloneAfter.out.trim()}`);
  assert.notEqual(aloneAfter.code, 0);
  assert.match(aloneAfter.out, /certificate verify failed/, aloneAfter.out);
  // Either way: clean, the local CA copy and CRL included, and enroll again (the old certificate left the CA with the overlap).
  expectOk(await puppetSsl("clean", alone, port, ["--localca"]), "puppet ssl clean --localca");
  expectOk(await puppetSsl("bootstrap", alone, port, ["--waitforcert", "0"]), "enroll again");
  assert.deepEqual(parseCertificateChain(fs.readFileSync(path.join(alone.ssldir, "certs", "ca.pem"), "utf8")).map((c) => fingerprint(c.der)), [fp(newCaPem)]);
});
