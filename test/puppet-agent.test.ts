/**
 * A real, unmodified Puppet agent (Debian's puppet-agent 7.x) enrolls against `fleetca
 * server` on 127.0.0.1: autosign on; autosign off with `fleetca ca sign` while the agent
 * waits; csr_attributes.yaml (challengePassword approved by a policy executable, pp_uuid and
 * pp_role copied into the certificate); dns_alt_names; revoke; clean and enroll again.
 * Skipped, with the reason, only when `puppet` is not installed.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { fleetcaProcess } from "./helpers/cli.js";
import { httpsRequest } from "./helpers/https-client.js";
import { tmpDir, verifyWithCrl, x509Text } from "./helpers/openssl.js";
import { agentCert, makeAgent, puppetMissing, puppetSsl, type Agent } from "./helpers/puppet.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const V1 = "/puppet-ca/v1";
const skip = puppetMissing() ?? false;
const dir = tmpDir("fleetca-puppet-");
const servers: ServerProcess[] = [];

async function caAndCrl(s: ServerProcess): Promise<{ ca: string; crl: string }> {
  const ca = fs.readFileSync(path.join(s.ssldir, "certs", "ca.pem"), "utf8");
  const crl = (await httpsRequest(`${s.url}${V1}/certificate_revocation_list/ca`, { ca, servername: "localhost" })).body;
  return { ca, crl };
}

/** Every certificate an agent gets must pass `openssl verify -crl_check` against the server's CA and CRL. */
async function assertOpensslVerifies(s: ServerProcess, a: Agent): Promise<void> {
  const { ca, crl } = await caAndCrl(s);
  const r = verifyWithCrl(ca, crl, agentCert(a));
  assert.ok(r.ok, r.out);
}

async function fleetca(...args: string[]): Promise<void> {
  const r = await fleetcaProcess(args);
  assert.equal(r.code, 0, `fleetca ${args.join(" ")}: ${r.stderr}`);
}

function expectOk(r: { code: number | null; out: string }, what: string): void {
  assert.equal(r.code, 0, `${what}:\n${r.out}`);
}

describe("a real Puppet agent", { skip, concurrency: true }, () => {
  let auto: ServerProcess;
  let manual: ServerProcess;
  let policy: ServerProcess;

  before(async () => {
    const script = path.join(dir, "challenge-policy.sh");
    fs.writeFileSync(
      script,
      "#!/bin/sh\n# Approves a CSR only with the enrollment password in its challengePassword attribute.\n" +
        "if openssl req -noout -text | grep -q 's3cret-enrol'; then exit 0; fi\necho \"no valid challengePassword for $1\" >&2\nexit 1\n",
      { mode: 0o755 },
    );
    // Each is registered as soon as it runs, so `after` stops it even if another fails to start.
    const start = async (name: string, config: string) => {
      const s = await startServer({ dir: path.join(dir, name), config });
      servers.push(s);
      return s;
    };
    [auto, manual, policy] = await Promise.all([
      start("auto", "key_type: ec\nautosign: true\n"),
      start("manual", "key_type: ec\nautosign: false\n"),
      start("policy", `key_type: ec\nautosign: ${script}\n`),
    ]);
  });

  after(async () => {
    for (const s of servers) await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("autosign on: bootstrap enrolls; after `fleetca ca revoke` verify fails; after `fleetca ca clean` and `puppet ssl clean` it enrolls again", async (t) => {
    const a = makeAgent(path.join(dir, "agents"), "node1.example.com");
    let firstSerial = 0n;
    await t.test("bootstrap", async () => {
      const r = await puppetSsl("bootstrap", a, auto.port, ["--waitforcert", "0"]);
      expectOk(r, "bootstrap");
      assert.match(r.out, /Downloaded certificate for node1\.example\.com from https:\/\/localhost:\d+\/puppet-ca\/v1/);
      assert.match(r.out, /Notice: Completed SSL initialization/);
      expectOk(await puppetSsl("verify", a, auto.port), "verify");
      await assertOpensslVerifies(auto, a);
      firstSerial = parseCertificatePem(agentCert(a)).serial;
    });
    await t.test("revoke: the agent's next verify fails once it has the new CRL", async () => {
      await fleetca("ca", "revoke", "--cadir", auto.cadir, a.certname);
      // Puppet's `ssl verify` checks the CRL in the agent's ssldir; the agent refreshes it on its
      // next run (crl_refresh_interval, 1 day by default; 1 s here), through If-Modified-Since.
      const refresh = await puppetSsl("bootstrap", a, auto.port, ["--waitforcert", "0", "--crl_refresh_interval", "1s"]);
      assert.match(refresh.out, /Refreshing CRL/);
      const verify = await puppetSsl("verify", a, auto.port);
      assert.notEqual(verify.code, 0);
      assert.match(verify.out, /Certificate 'CN=node1\.example\.com' is revoked/);
    });
    await t.test("clean on both sides, then bootstrap enrolls again with a new certificate", async () => {
      await fleetca("ca", "clean", "--cadir", auto.cadir, a.certname);
      const clean = await puppetSsl("clean", a, auto.port);
      expectOk(clean, "puppet ssl clean");
      assert.match(clean.out, /Removed private key/);
      expectOk(await puppetSsl("bootstrap", a, auto.port, ["--waitforcert", "0"]), "bootstrap after clean");
      expectOk(await puppetSsl("verify", a, auto.port), "verify after clean");
      assert.notEqual(parseCertificatePem(agentCert(a)).serial, firstSerial);
      await assertOpensslVerifies(auto, a);
    });
  });

  test("autosign off: the agent waits (--waitforcert) until `fleetca ca sign`; dns_alt_names are signed with --allow-dns-alt-names", async (t) => {
    await t.test("waitforcert", async () => {
      const a = makeAgent(path.join(dir, "agents"), "node2.example.com");
      const waiting = puppetSsl("bootstrap", a, manual.port, ["--waitforcert", "1", "--maxwaitforcert", "90"]);
      const ca = fs.readFileSync(path.join(manual.ssldir, "certs", "ca.pem"), "utf8");
      const deadline = Date.now() + 60_000;
      while ((await httpsRequest(`${manual.url}${V1}/certificate_request/${a.certname}`, { ca, servername: "localhost" })).status !== 200) {
        assert.ok(Date.now() < deadline, "the agent submitted its CSR");
        await new Promise((r) => setTimeout(r, 200));
      }
      await fleetca("ca", "sign", "--cadir", manual.cadir, a.certname);
      const r = await waiting;
      expectOk(r, "bootstrap --waitforcert");
      assert.match(r.out, /Downloaded certificate for node2\.example\.com/);
      expectOk(await puppetSsl("verify", a, manual.port), "verify");
      await assertOpensslVerifies(manual, a);
    });
    await t.test("dns_alt_names", async () => {
      const a = makeAgent(path.join(dir, "agents"), "node3.example.com");
      const alt = ["--dns_alt_names", "node3-alias.example.com,puppet3"];
      const first = await puppetSsl("bootstrap", a, manual.port, [...alt, "--waitforcert", "0"]);
      assert.equal(first.code, 1);
      assert.match(first.out, /Certificate for node3\.example\.com has not been signed yet/);
      assert.match(first.out, /Exiting now because the waitforcert setting is set to 0/);
      await fleetca("ca", "sign", "--cadir", manual.cadir, "--allow-dns-alt-names", a.certname);
      expectOk(await puppetSsl("bootstrap", a, manual.port, [...alt, "--waitforcert", "0"]), "bootstrap after sign");
      assert.deepEqual(parseCertificatePem(agentCert(a)).altNames.sort(), ["DNS:node3-alias.example.com", "DNS:node3.example.com", "DNS:puppet3"]);
      await assertOpensslVerifies(manual, a);
    });
  });

  test("csr_attributes.yaml: a challengePassword approved by a policy executable; pp_uuid and pp_role in the certificate", async () => {
    const a = makeAgent(path.join(dir, "agents"), "node4.example.com");
    fs.writeFileSync(
      path.join(a.confdir, "csr_attributes.yaml"),
      "---\ncustom_attributes:\n  1.2.840.113549.1.9.7: \"s3cret-enrol\"\nextension_requests:\n" +
        "  pp_uuid: \"ED803750-E3C7-44F5-BB08-41A04433FE2E\"\n  pp_role: \"webserver\"\n",
    );
    const r = await puppetSsl("bootstrap", a, policy.port, ["--waitforcert", "0"]);
    expectOk(r, "bootstrap with csr_attributes");
    assert.match(r.out, /csr_attributes file loading from/);
    const text = x509Text(agentCert(a));
    assert.match(text, /1\.3\.6\.1\.4\.1\.34380\.1\.1\.1:\s*\n\s*.*ED803750-E3C7-44F5-BB08-41A04433FE2E/, "pp_uuid");
    assert.match(text, /1\.3\.6\.1\.4\.1\.34380\.1\.1\.13:\s*\n\s*.*webserver/, "pp_role");
    assert.doesNotMatch(text, /s3cret-enrol/, "the challengePassword stays in the CSR");
    await assertOpensslVerifies(policy, a);
  });
});
