/**
 * A real Puppet agent (certificate_revocation = chain, its default) against `fleetca server`
 * running an intermediate CA imported under an openssl-made root: the agent checks every
 * certificate of the chain against its issuer's CRL, so the root's CRL must stay in the CRL
 * chain through a revoke (it was dropped), and a newer root CRL uploaded with
 * PUT certificate_revocation_list must reach the agent on its next CRL refresh.
 * Skipped, with the reason, only when `puppet` is not installed.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { crlStateFromDer } from "../src/pki/crl.js";
import { pemBlocks } from "../src/pki/pem.js";
import { fleetca, fleetcaProcess } from "./helpers/cli.js";
import { httpsRequest } from "./helpers/https-client.js";
import { tmpDir } from "./helpers/openssl.js";
import { makeIntermediate, makeRoot } from "./helpers/openssl-ca.js";
import { makeAgent, puppetMissing, puppetSsl, type Agent } from "./helpers/puppet.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const skip = puppetMissing() ?? false;
const dir = tmpDir("fleetca-puppet-chain-");
let server: ServerProcess | undefined;

after(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const crlNumbers = (pem: string) => pemBlocks(pem).filter((b) => b.label === "X509 CRL").map((b) => crlStateFromDer(b.der).crlNumber);
const agentCrl = (a: Agent) => fs.readFileSync(path.join(a.ssldir, "crl.pem"), "utf8");

function expectOk(r: { code: number | null; out: string }, what: string): void {
  assert.equal(r.code, 0, `${what}:\n${r.out}`);
}

test("a Puppet agent enrolls with an intermediate CA, and keeps verifying through a revoke and a root CRL update", { skip }, async () => {
  const root = makeRoot(dir, "Test Root CA");
  const inter = makeIntermediate(dir, root, "Puppet CA: intermediate.test", 2);
  const bundle = path.join(dir, "bundle.pem");
  fs.writeFileSync(bundle, fs.readFileSync(inter.certFile, "utf8") + fs.readFileSync(root.certFile, "utf8"));
  const chain = path.join(dir, "crl-chain.pem");
  fs.writeFileSync(chain, inter.gencrl(path.join(dir, "inter-crl.pem")) + root.gencrl(path.join(dir, "root-crl1.pem")));
  const serverDir = path.join(dir, "server");
  const imported = await fleetca(["ca", "import", "--cadir", path.join(serverDir, "ca"), "--cert-bundle", bundle, "--private-key", inter.keyFile, "--crl-chain", chain, "--next-serial", "10"]);
  assert.equal(imported.code, 0, imported.stderr);
  server = await startServer({ dir: serverDir, config: "key_type: ec\nautosign: true\n" });

  const stays = makeAgent(path.join(dir, "agents"), "stays.example.com");
  const goes = makeAgent(path.join(dir, "agents"), "goes.example.com");
  for (const a of [stays, goes]) {
    const r = await puppetSsl("bootstrap", a, server.port, ["--waitforcert", "0"]);
    expectOk(r, `bootstrap ${a.certname}`);
    assert.match(r.out, /Notice: Completed SSL initialization/);
  }
  assert.deepEqual(crlNumbers(agentCrl(stays)), [0n, 1n], "the agent holds both CRLs");

  // A revoke signs a new CRL: the root's must still follow it, or the agent cannot check the intermediate.
  const revoked = await fleetcaProcess(["ca", "revoke", "--cadir", server.cadir, goes.certname]);
  assert.equal(revoked.code, 0, revoked.stderr);
  const refresh = await puppetSsl("bootstrap", stays, server.port, ["--waitforcert", "0", "--crl_refresh_interval", "1s"]);
  expectOk(refresh, "bootstrap with a CRL refresh");
  assert.match(refresh.out, /Refreshing CRL/);
  assert.deepEqual(crlNumbers(agentCrl(stays)), [1n, 1n]);
  expectOk(await puppetSsl("verify", stays, server.port), "verify after a revoke");
  await puppetSsl("bootstrap", goes, server.port, ["--waitforcert", "0", "--crl_refresh_interval", "1s"]);
  const goesVerify = await puppetSsl("verify", goes, server.port);
  assert.notEqual(goesVerify.code, 0);
  assert.match(goesVerify.out, /Certificate 'CN=goes\.example\.com' is revoked/);

  // The root signs a newer CRL; an admin (the server's own certificate, pp_cli_auth) uploads it.
  const other = makeIntermediate(dir, root, "another intermediate", 3);
  root.revoke(other.certFile);
  const rootCrl2 = root.gencrl(path.join(dir, "root-crl2.pem"));
  await new Promise((r) => setTimeout(r, 1100)); // Last-Modified has a one-second resolution
  const ca = fs.readFileSync(path.join(server.ssldir, "certs", "ca.pem"), "utf8");
  const cert = { certPem: fs.readFileSync(path.join(server.ssldir, "certs", "localhost.pem"), "utf8"), keyPem: fs.readFileSync(path.join(server.ssldir, "private_keys", "localhost.pem"), "utf8") };
  const put = await httpsRequest(`${server.url}/puppet-ca/v1/certificate_revocation_list`, { method: "PUT", body: rootCrl2, headers: { "content-type": "text/plain" }, ca, cert, servername: "localhost" });
  assert.equal(put.status, 200, put.body);
  assert.equal(put.body, "Successfully updated CRLs.");
  const again = await puppetSsl("bootstrap", stays, server.port, ["--waitforcert", "0", "--crl_refresh_interval", "1s"]);
  expectOk(again, "bootstrap after the root CRL update");
  assert.match(again.out, /Refreshing CRL/);
  assert.deepEqual(crlNumbers(agentCrl(stays)), [2n, 2n], "the agent has the CA's re-signed CRL and the root's new one");
  expectOk(await puppetSsl("verify", stays, server.port), "verify after the root CRL update");
});
