/**
 * `fleetca agent` against a real Puppet Server CA (Debian's puppetserver 7.9.5), through bench/puppetserver.sh.
 * Opt-in: FLEETCA_TEST_PUPPETSERVER=1 (Puppet Server takes 30-80 s to start, twice here, too slow for the suite),
 * as root on a machine with puppetserver installed and no other Puppet Server running (the script would stop
 * it). Listens on 127.0.0.1:${PS_PORT:-8140}. Autosign is a whitelist (`*.auto.example.com`), so one server
 * autosigns some names and leaves the others for `puppetserver ca sign`.
 *
 * Phase 1, the CA Puppet Server generates at first start (one CA certificate): autosigned enrollment, waitforcert 0,
 * `puppetserver ca sign` then bootstrap, the forgotten CSR, revoke noticed through a fresh CRL, show, renew against
 * a server without certificate_renewal, and Puppet's own `puppet ssl verify` on the ssldir.
 * Phase 2, a root and intermediate CA made with `puppetserver ca setup`: a two-certificate ca.pem and a two-CRL
 * crl.pem, enrollment and revocation.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { REAL_DEPS } from "../src/cli/agent-common.js";
import { runAgentCli } from "../src/cli/agent.js";
import { Exit } from "../src/cli/exit-codes.js";
import { bufferIo } from "../src/cli/io.js";
import { tmpDir } from "./helpers/openssl.js";

const SCRIPT = fileURLToPath(new URL("../bench/puppetserver.sh", import.meta.url));
const PORT = process.env.PS_PORT ?? "8140";
const CADIR = "/etc/puppet/puppetserver/ca";
const PS_SSLDIR = "/var/lib/puppet/ssl";

function whyNot(): string | undefined {
  if (process.env.FLEETCA_TEST_PUPPETSERVER !== "1") return "set FLEETCA_TEST_PUPPETSERVER=1 to run fleetca agent against a real Puppet Server (slow: it starts Puppet Server twice)";
  if (process.getuid?.() !== 0) return "needs root: bench/puppetserver.sh configures /etc/puppet and runs Puppet Server as user puppet";
  if (spawnSync("puppetserver", ["--help"]).error) return "puppetserver is not installed (bench/puppetserver.sh install)";
  const running = spawnSync("pgrep", ["-f", "puppetserver.jar"], { encoding: "utf8" });
  if (running.status === 0) return `a Puppet Server is already running (pid ${running.stdout.trim().split("\n").join(", ")}); this test starts its own and leaves that one alone`;
  return undefined;
}

const skip = whyNot();
const work = skip ? "" : tmpDir("fleetca-agent-ps-");
let started = false;

function script(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync("bash", [SCRIPT, ...args], { encoding: "utf8", env: { ...process.env, PS_PORT: PORT, ...env } });
  assert.equal(r.status, 0, `bench/puppetserver.sh ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function startPuppetServer(keepCa: boolean): void {
  const dir = path.join(work, "autosign");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "autosign.conf"), "*.auto.example.com\n", { mode: 0o644 });
  // Puppet Server runs as user puppet: it must reach the whitelist.
  fs.chmodSync(work, 0o755);
  fs.chmodSync(dir, 0o755);
  started = true;
  script(["start", path.join(dir, "autosign.conf")], { KEEP_CA: keepCa ? "1" : "0" });
}

const psCa = (...args: string[]): string => script(["ca", ...args]);

interface Run {
  code: number;
  out: string;
  err: string;
}

const ssldirOf = (name: string) => path.join(work, "nodes", name);
const file = (name: string, rel: string) => path.join(ssldirOf(name), rel.replace("NAME", name));

async function agent(verb: string, name: string, extra: string[] = []): Promise<Run> {
  const io = bufferIo({});
  const args = [verb, "--ssldir", ssldirOf(name), "--certname", name];
  if (verb === "bootstrap" || verb === "renew") args.push("--server", "localhost", "--port", PORT);
  if (verb === "bootstrap") args.push("--key-type", "ec", "--waitforcert", "0", "--csr-attributes", path.join(work, "none.yaml"));
  const code = await runAgentCli([...args, ...extra], io, REAL_DEPS);
  return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
}

const ok = (r: Run) => assert.equal(r.code, Exit.OK, `${r.out}\n${r.err}`);

function puppetSslVerify(name: string): void {
  const conf = path.join(work, "puppet-conf", name);
  fs.mkdirSync(conf, { recursive: true });
  const r = spawnSync("puppet", ["ssl", "verify", "--ssldir", ssldirOf(name), "--certname", name, "--confdir", conf, "--vardir", path.join(conf, "var")], { encoding: "utf8" });
  assert.equal(r.status, 0, `puppet ssl verify: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, new RegExp(`Verified client certificate 'CN=${name.replace(/\./g, "\\.")}'`));
}

describe("fleetca agent against Puppet Server", { skip, timeout: 15 * 60_000 }, () => {
  after(() => {
    if (started) script(["stop"]);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  describe("phase 1: the CA Puppet Server generates itself", () => {
    before(() => startPuppetServer(false), { timeout: 5 * 60_000 });

    it("autosigned: the six steps, mutual TLS through GET /puppet-ca/v1/expirations; puppet ssl verify accepts the ssldir", async () => {
      const name = "n1.auto.example.com";
      const r = await agent("bootstrap", name);
      ok(r);
      assert.match(r.out, /CA certificate: fetched "CN=Puppet CA: localhost"/);
      assert.match(r.out, /Certificate request: submitted to/);
      assert.match(r.out, /Certificate: downloaded from/);
      assert.match(r.out, new RegExp(`mutual TLS with https://localhost:${PORT} OK`));
      assert.equal(fs.statSync(file(name, "private_keys/NAME.pem")).mode & 0o777, 0o600);
      puppetSslVerify(name);
      const show = await agent("show", name);
      ok(show);
      assert.match(show.out, /Subject: CN=n1\.auto\.example\.com/);
      assert.match(show.out, /Issuer: CN=Puppet CA: localhost/);
      assert.match(show.out, /DNS:n1\.auto\.example\.com/);
    });

    it("not autosigned: waitforcert 0 exits 3; no resubmission; the forgotten CSR is downloaded; signed by puppetserver ca sign", async () => {
      const name = "n2.example.com";
      const first = await agent("bootstrap", name);
      assert.equal(first.code, Exit.NOT_SIGNED, first.err);
      assert.match(first.err, /Exiting now because the waitforcert setting is set to 0\./);
      assert.match(first.err, /puppetserver ca sign --certname n2\.example\.com/);
      const again = await agent("bootstrap", name);
      assert.equal(again.code, Exit.NOT_SIGNED, again.err);
      assert.match(again.out, /already submitted \(saved copy\), not sending it again/);
      const submitted = fs.readFileSync(file(name, "certificate_requests/NAME.pem"), "utf8");
      fs.rmSync(file(name, "certificate_requests/NAME.pem"));
      const forgot = await agent("bootstrap", name);
      assert.equal(forgot.code, Exit.NOT_SIGNED, forgot.err);
      assert.match(forgot.out, /the CA already holds one for this node; downloaded it, not resubmitted/);
      assert.equal(fs.readFileSync(file(name, "certificate_requests/NAME.pem"), "utf8").trim(), submitted.trim());
      assert.match(psCa("list"), /n2\.example\.com/);
      psCa("sign", "--certname", name);
      const signed = await agent("bootstrap", name);
      ok(signed);
      assert.match(signed.out, /Certificate: downloaded from/);
      assert.ok(!fs.existsSync(file(name, "certificate_requests/NAME.pem")));
      puppetSslVerify(name);
    });

    it("revoked with puppetserver ca revoke: the server refuses the certificate, a fresh CRL says why (exit 6); verify agrees", async (t) => {
      const name = "n3.auto.example.com";
      ok(await agent("bootstrap", name));
      psCa("revoke", "--certname", name);
      // verify is offline: it reads the saved CRL, which predates the revocation.
      ok(await agent("verify", name));
      // Puppet Server's TLS layer picks the new CRL up a moment after the revoke; until then the handshake passes.
      const t0 = Date.now();
      let r = await agent("bootstrap", name);
      while (r.code === Exit.OK && Date.now() - t0 < 30_000) {
        await new Promise((done) => setTimeout(done, 500));
        r = await agent("bootstrap", name);
      }
      t.diagnostic(`Puppet Server refused the revoked certificate ${Date.now() - t0} ms after the revoke returned`);
      assert.equal(r.code, Exit.REVOKED, `${r.out}\n${r.err}`);
      assert.match(r.err, /has been revoked by the CA/);
      const v = await agent("verify", name);
      assert.equal(v.code, Exit.REVOKED, v.err);
    });

    it("a CRL refresh (crl_refresh_interval 0) alone picks up a revocation", async () => {
      const name = "n4.auto.example.com";
      ok(await agent("bootstrap", name));
      psCa("revoke", "--certname", name);
      const r = await agent("bootstrap", name, ["--crl-refresh-interval", "0"]);
      assert.equal(r.code, Exit.REVOKED, `${r.out}\n${r.err}`);
      assert.match(r.out, /CRL: refreshed \([1-9]\d* revoked/);
    });

    it("renew: Puppet Server 7.9.5 has no certificate_renewal; the agent says so (exit 1) and keeps the certificate", async () => {
      const name = "n1.auto.example.com";
      const before = fs.readFileSync(file(name, "certs/NAME.pem"), "utf8");
      const r = await agent("renew", name);
      assert.equal(r.code, Exit.FAILED, `${r.out}\n${r.err}`);
      assert.match(r.out, /renewing as asked/);
      assert.match(r.err, /this CA does not offer certificate renewal/);
      assert.match(r.err, /puppetserver ca clean --certname n1\.auto\.example\.com/);
      assert.equal(fs.readFileSync(file(name, "certs/NAME.pem"), "utf8"), before);
      // Automatic renewal (here: always due) is only a warning, and the bootstrap still succeeds.
      const auto = await agent("bootstrap", name, ["--hostcert-renewal-interval", "100y"]);
      ok(auto);
      assert.match(auto.err, /Warning: renewal failed; keeping the current certificate/);
    });
  });

  describe("phase 2: root and intermediate CA (puppetserver ca setup)", () => {
    before(
      () => {
        script(["stop"]);
        fs.rmSync(CADIR, { recursive: true, force: true });
        fs.rmSync(PS_SSLDIR, { recursive: true, force: true });
        const setup = spawnSync("puppetserver", ["ca", "setup", "--certname", "localhost", "--subject-alt-names", "localhost,puppet"], { encoding: "utf8" });
        assert.equal(setup.status, 0, setup.stdout + setup.stderr);
        spawnSync("chown", ["-R", "puppet:puppet", CADIR, PS_SSLDIR]);
        startPuppetServer(true);
      },
      { timeout: 5 * 60_000 },
    );

    it("a two-certificate ca.pem and two-CRL crl.pem: enrollment, puppet ssl verify, revocation", async () => {
      const name = "i1.auto.example.com";
      const r = await agent("bootstrap", name);
      ok(r);
      assert.equal(fs.readFileSync(file(name, "certs/ca.pem"), "utf8").match(/BEGIN CERTIFICATE/g)?.length, 2);
      assert.equal(fs.readFileSync(file(name, "crl.pem"), "utf8").match(/BEGIN X509 CRL/g)?.length, 2);
      puppetSslVerify(name);
      // Every later request is pinned to the saved chain and both CRLs.
      ok(await agent("bootstrap", name, ["--crl-refresh-interval", "0", "--ca-refresh-interval", "0"]));
      psCa("revoke", "--certname", name);
      // A fresh CRL (both of them) shows the revocation without waiting for the server to reload its own.
      const gone = await agent("bootstrap", name, ["--crl-refresh-interval", "0"]);
      assert.equal(gone.code, Exit.REVOKED, `${gone.out}\n${gone.err}`);
      assert.equal((await agent("verify", name)).code, Exit.REVOKED);
    });
  });
});
