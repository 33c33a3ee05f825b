/**
 * The drill of seed 001, as a test (issue 11): a real Puppet agent and 50 simulated agents
 * enrolled with a running `fleetca server`; `fleetca ca regenerate` with two infrastructure
 * names while it runs; every old certificate refused (the server's log names the node); the
 * infrastructure credentials accepted by a real TLS service that verifies client
 * certificates against the new CA; every agent re-enrolling after cleaning, the status list
 * emptying as they do (one node dismissed through the JSON API); then `fleetca ca restore`
 * of the regeneration's backup brings the old CA back exactly, and the old agents work again.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";
import { after, test } from "node:test";
import { openArchive } from "../src/ca/lifecycle/archive.js";
import { certToPem, parseCertificatePem } from "../src/pki/certificate.js";
import { fingerprint } from "../src/pki/fingerprint.js";
import { fleetca } from "./helpers/cli.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { agentCert, makeAgent, puppetMissing, puppetSsl } from "./helpers/puppet.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";
import { asNode, enrollSimulated, httpsRequest, type SimulatedNode } from "./helpers/simulated-node.js";
import { snapshot } from "./helpers/tree-snapshot.js";

const CA = "/puppet-ca/v1";
const SIMULATED = 50;
let server: ServerProcess | undefined;
after(async () => void (await server?.stop()));

type Node = SimulatedNode;
const enroll = (url: string, caPem: string, name: string) => enrollSimulated(url, caPem, name);

const status = async (cadir: string) => JSON.parse((await ok(["ca", "regenerate", "--status", "--format", "json", "--cadir", cadir])).stdout) as { total: number; reenrolled: number; remaining: number; dismissed: number; nodes: { name: string; lastSeenAt: string | null; lastSeenAddress: string | null }[] };

async function ok(args: string[]) {
  const r = await fleetca(args, tmpDir());
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r;
}

/** A TLS service (as PuppetDB is) that requires a client certificate of `caPem`; resolves with what each client saw. */
async function tlsService(server: { keyPem: string; certPem: string }, caPem: string) {
  const srv = tls.createServer({ key: server.keyPem, cert: server.certPem, ca: caPem, requestCert: true, rejectUnauthorized: true }, (s) => s.end("hello\n"));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  const connect = (client: { keyPem: string; certPem: string }, servername: string) =>
    new Promise<string>((resolve) => {
      const s = tls.connect({ host: "127.0.0.1", port, key: client.keyPem, cert: client.certPem, ca: caPem, servername }, () => undefined);
      let data = "";
      s.setEncoding("utf8").on("data", (d: string) => (data += d));
      s.on("end", () => resolve(data));
      s.on("error", (e) => resolve(`error: ${e.message}`));
    });
  return { connect, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

test("the seed 001 drill: regenerate under a running server, infrastructure credentials, re-enrollment, restore", { timeout: 240_000 }, async () => {
  const dir = tmpDir();
  server = await startServer({ dir, config: "key_type: ec\nautosign: true\n" });
  const { url, cadir } = server;
  const oldCaPem = fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8");

  // Enroll: 50 simulated agents and, when Puppet is installed, a real Puppet agent.
  const nodes: Node[] = [];
  for (let i = 0; i < SIMULATED; i++) nodes.push(await enroll(url, oldCaPem, `agent${String(i).padStart(2, "0")}.example.com`));
  const skipPuppet = puppetMissing();
  const real = makeAgent(path.join(dir, "agents"), "real.example.com");
  if (!skipPuppet) assert.equal((await puppetSsl("bootstrap", real, server.port, ["--waitforcert", "0"])).code, 0);
  for (const n of nodes.slice(0, 3)) assert.equal((await asNode(url, oldCaPem, n)).status, 200, "an enrolled node is a node");

  // Regenerate with two infrastructure names, the server running.
  const out = path.join(dir, "infra");
  const backup = path.join(dir, "before-regeneration.fleetca");
  const regen = await ok(["ca", "regenerate", "--config", server.configFile, "--cadir", cadir, "--certname", "localhost", "--infra", "puppetdb.example.com,console.example.com", "--out", out, "--backup-out", backup]);
  assert.match(regen.stdout, /\[Step 2, on puppetdb\.example\.com\]/);
  assert.match(regen.stdout, /\[Step 4, every agent node\]\n {2}Puppet: {2}sudo puppet ssl clean --localca && sudo puppet agent -t/);
  const newCaPem = fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8");
  const newCa = parseCertificatePem(newCaPem);
  assert.notEqual(fingerprint(newCa.der), fingerprint(parseCertificatePem(oldCaPem).der));
  assert.equal(newCa.commonName, parseCertificatePem(oldCaPem).commonName, "the same CA name");
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.startsWith("ca changed: now serving the CA"));

  // The server serves the new CA without a restart, and refuses every old certificate, naming the node.
  const served = await httpsRequest(`${url}${CA}/certificate/ca`, { ca: newCaPem });
  assert.equal(served.status, 200, "the server's TLS certificate now chains to the new CA");
  assert.equal(certToPem(parseCertificatePem(served.body).der), certToPem(newCa.der));
  for (const n of nodes) assert.equal((await asNode(url, newCaPem, n)).status, 403, `${n.name}'s old certificate is refused`);
  await server.waitForLog((l) => typeof l.msg === "string" && l.msg.includes("agent49.example.com must re-enroll"));
  // The agents, the server's own certificate and its OCSP responder's (issued by the server itself).
  const expected = SIMULATED + (skipPuppet ? 0 : 1) + 2;
  let s = await status(cadir);
  assert.equal(s.total, expected);
  assert.ok(s.reenrolled >= 1, "the server's certificate was issued again at once");
  assert.ok(!s.nodes.some((n) => n.name === "localhost"));
  assert.equal(s.nodes.filter((n) => n.name.endsWith(".example.com")).length, SIMULATED + (skipPuppet ? 0 : 1));
  assert.ok(s.nodes.find((n) => n.name === "agent00.example.com")?.lastSeenAddress === "127.0.0.1", "seen presenting its old certificate, from where");

  // The infrastructure credentials, in both layouts, work in a TLS service verifying against the new CA.
  const cred = (name: string) => ({
    keyPem: fs.readFileSync(path.join(out, name, "ssl", "private_keys", `${name}.pem`), "utf8"),
    certPem: fs.readFileSync(path.join(out, name, "ssl", "certs", `${name}.pem`), "utf8"),
  });
  const db = { keyPem: fs.readFileSync(path.join(out, "puppetdb.example.com", "puppetdb", "private.pem"), "utf8"), certPem: fs.readFileSync(path.join(out, "puppetdb.example.com", "puppetdb", "public.pem"), "utf8") };
  assert.equal(fs.statSync(path.join(out, "puppetdb.example.com", "puppetdb", "private.pem")).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(out, "console.example.com", "ssl", "private_keys", "console.example.com.pem")).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(path.join(out, "puppetdb.example.com", "puppetdb", "ca.pem"), "utf8"), newCaPem);
  const v = openssl(["verify", "-CAfile", path.join(out, "console.example.com", "ssl", "certs", "ca.pem"), path.join(out, "console.example.com", "ssl", "certs", "console.example.com.pem")]);
  assert.ok(v.ok, v.out);
  const svc = await tlsService(db, newCaPem);
  try {
    assert.equal(await svc.connect(cred("console.example.com"), "puppetdb.example.com"), "hello\n", "the console's new certificate is accepted");
    assert.notEqual(await svc.connect(nodes[0]!, "puppetdb.example.com"), "hello\n", "an old agent certificate is not");
  } finally {
    await svc.close();
  }

  // Re-enrollment: each agent cleans and enrolls again; the list empties as they do.
  if (!skipPuppet) {
    const oldReal = { name: real.certname, certPem: agentCert(real), keyPem: fs.readFileSync(path.join(real.ssldir, "private_keys", "real.example.com.pem"), "utf8") };
    assert.equal((await asNode(url, newCaPem, oldReal)).status, 403, "the real agent's old certificate is refused");
    assert.equal((await puppetSsl("clean", real, server.port, ["--localca"])).code, 0, "clean, the local copy of the CA included");
    const again = await puppetSsl("bootstrap", real, server.port, ["--waitforcert", "0"]);
    assert.equal(again.code, 0, again.out);
    assert.ok(openssl(["verify", "-CAfile", path.join(cadir, "ca_crt.pem"), path.join(real.ssldir, "certs", "real.example.com.pem")]).ok);
    assert.ok(agentCert(real).length > 0);
  }
  const fresh: Node[] = [];
  for (const n of nodes.slice(0, SIMULATED - 1)) fresh.push(await enroll(url, newCaPem, n.name));
  s = await status(cadir);
  assert.deepEqual(s.nodes.map((n) => n.name).filter((n) => n.endsWith(".example.com")), ["agent49.example.com"]);
  // The OCSP responder's certificate is the server's to issue again; an operator may dismiss it like any node.
  if (s.nodes.some((n) => n.name === "ocsp-responder.localhost")) await ok(["ca", "regenerate", "--dismiss", "ocsp-responder.localhost", "--cadir", cadir]);
  for (const n of fresh.slice(0, 3)) assert.equal((await asNode(url, newCaPem, n)).status, 200);

  // The last node will never come back: dismissed through the JSON API with the server's admin certificate.
  const admin = { keyPem: fs.readFileSync(path.join(server.ssldir, "private_keys", "localhost.pem"), "utf8"), certPem: fs.readFileSync(path.join(server.ssldir, "certs", "localhost.pem"), "utf8") };
  const dismissed = await httpsRequest(`${url}/api/v1/regeneration/dismiss`, { method: "POST", body: JSON.stringify({ name: "agent49.example.com" }), headers: { "content-type": "application/json" }, ca: newCaPem, cert: admin });
  assert.equal(dismissed.status, 200, dismissed.body);
  const api = await httpsRequest(`${url}/api/v1/regeneration`, { ca: newCaPem, cert: admin });
  const view = JSON.parse(api.body) as { active: boolean; remaining: number; nodes: unknown[]; total: number };
  assert.deepEqual([view.active, view.remaining, view.nodes, view.total], [true, 0, [], expected]);
  const node = await httpsRequest(`${url}/api/v1/regeneration`, { ca: newCaPem, cert: fresh[0]! });
  assert.equal(node.status, 403, "a node may not read the list");

  // Restore the regeneration's backup: the old CA exactly, every file, byte and mode; the old agents work again.
  assert.equal(await server.stop(), 0);
  server = undefined;
  await ok(["ca", "restore", backup, "--config", path.join(dir, "fleetca.yaml"), "--cadir", cadir]);
  const archive = await openArchive(fs.createReadStream(backup), undefined);
  const want: Record<string, string> = {};
  for await (const it of archive.items) {
    if (it.section !== "store") continue;
    const rel = it.path === "." ? "." : it.path;
    want[rel] = it.type === "dir" ? `dir ${it.mode.toString(8)}` : `file ${it.mode.toString(8)} ${createHash("sha256").update(it.data).digest("hex")}`;
  }
  assert.deepEqual(snapshot(cadir), want);
  assert.equal(fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8"), oldCaPem);
  server = await startServer({ dir, config: "key_type: ec\nautosign: true\n" });
  for (const n of nodes.slice(0, 5)) assert.equal((await asNode(server.url, oldCaPem, n)).status, 200, `${n.name}'s old certificate works again`);
});
