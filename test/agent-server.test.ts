/**
 * `fleetca agent` against real `fleetca server` processes over TLS on 127.0.0.1, through every branch of the
 * bootstrap and every recovery case, each fixed with the very commands the error prints. Server A autosigns,
 * server B does not (its requests are signed with `fleetca ca sign` as a child process).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { KEY_MISMATCH_MESSAGE } from "../src/agent/errors.js";
import { REAL_DEPS } from "../src/cli/agent-common.js";
import { runAgentCli } from "../src/cli/agent.js";
import { Exit } from "../src/cli/exit-codes.js";
import { bufferIo } from "../src/cli/io.js";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { fingerprint } from "../src/pki/fingerprint.js";
import { startServer, freePort, type ServerProcess } from "./helpers/agent-server.js";
import { fleetcaProcess } from "./helpers/cli.js";
import { csrVerifies, tmpDir, verifyWithCrl } from "./helpers/openssl.js";

const DAY = 86_400_000;
const work = tmpDir("fleetca-agent-it-");
let A: ServerProcess;
let B: ServerProcess;

before(async () => {
  [A, B] = await Promise.all([startServer(path.join(work, "ca-a"), true), startServer(path.join(work, "ca-b"), false)]);
});
after(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  fs.rmSync(work, { recursive: true, force: true });
});

interface Run {
  code: number;
  out: string;
  err: string;
}

const ssldirOf = (name: string) => path.join(work, "nodes", name);

/** `fleetca agent VERB` for node `name` against `server`, in process; `clock` shifts the agent's time. */
async function agent(verb: string, name: string, server: ServerProcess | undefined, extra: string[] = [], opts: { shiftMs?: number; onOut?: (line: string) => void } = {}): Promise<Run> {
  const io = bufferIo({});
  if (opts.onOut) {
    const out = io.out;
    io.out = (l) => {
      out(l);
      opts.onOut!(l);
    };
  }
  const args = [verb, "--ssldir", ssldirOf(name), "--certname", name];
  if (server && (verb === "bootstrap" || verb === "renew")) args.push("--server", "127.0.0.1", "--port", String(server.port));
  if (verb === "bootstrap") args.push("--key-type", "ec", "--waitforcert", "0", "--csr-attributes", path.join(work, "none.yaml"));
  const shift = opts.shiftMs ?? 0;
  const code = await runAgentCli([...args, ...extra], io, { ...REAL_DEPS, clock: () => new Date(Date.now() + shift) });
  return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
}

async function ca(server: ServerProcess, ...args: string[]): Promise<void> {
  const r = await fleetcaProcess(["ca", ...args, "--cadir", server.cadir]);
  assert.equal(r.code, 0, `fleetca ca ${args.join(" ")}: ${r.stderr}`);
}

const file = (name: string, rel: string) => path.join(ssldirOf(name), rel.replace("NAME", name));
const read = (name: string, rel: string) => fs.readFileSync(file(name, rel), "utf8");
const ok = (r: Run) => assert.equal(r.code, Exit.OK, `${r.out}\n${r.err}`);

describe("fleetca agent against fleetca server", () => {
  it("fresh node, autosigned: six steps, one line each, files in Puppet's layout that openssl and puppet accept", async () => {
    const r = await agent("bootstrap", "fresh.test", A);
    ok(r);
    const lines = r.out.split("\n");
    assert.deepEqual(lines.map((l) => l.split(":")[0]), ["CA certificate", "CRL", "Private key", "Certificate", "Certificate request", "Certificate", "Verified", "Completed SSL initialization"]);
    assert.match(lines[6]!, /mutual TLS with https:\/\/127\.0\.0\.1:\d+ OK/);
    assert.equal(fs.statSync(file("fresh.test", "private_keys/NAME.pem")).mode & 0o777, 0o600);
    const v = verifyWithCrl(read("fresh.test", "certs/ca.pem"), read("fresh.test", "crl.pem"), read("fresh.test", "certs/NAME.pem"));
    assert.ok(v.ok, v.out);
    ok(await agent("verify", "fresh.test", undefined));
    assert.match((await agent("show", "fresh.test", undefined)).out, /Subject: CN=fresh\.test/);
  });

  it("the ssldir is readable by Debian's `puppet ssl show` and `puppet ssl verify`", (t) => {
    if (spawnSync("puppet", ["--version"]).status !== 0) return t.skip("puppet is not installed (apt-get install puppet-agent) - skipping the interop check");
    const conf = tmpDir("fleetca-puppet-");
    const base = ["--ssldir", ssldirOf("fresh.test"), "--certname", "fresh.test", "--confdir", conf, "--vardir", path.join(conf, "var")];
    const show = spawnSync("puppet", ["ssl", "show", ...base], { encoding: "utf8" });
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /Subject: CN\s?=\s?fresh\.test/);
    const verify = spawnSync("puppet", ["ssl", "verify", ...base, "--server", "127.0.0.1"], { encoding: "utf8" });
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /Verified client certificate 'CN=fresh\.test'/);
    fs.rmSync(conf, { recursive: true, force: true });
  });

  it("waitforcert 0: not signed yet (exit 3, Puppet's words, the sign command); reruns never resubmit; forgotten CSR", async () => {
    const r = await agent("bootstrap", "pending.test", B);
    assert.equal(r.code, Exit.NOT_SIGNED, r.err);
    assert.match(r.out, /Certificate for pending\.test has not been signed yet/);
    assert.match(r.err, /Exiting now because the waitforcert setting is set to 0\./);
    assert.match(r.err, /fleetca ca sign pending\.test/);
    const csr = read("pending.test", "certificate_requests/NAME.pem");
    const v = csrVerifies(csr);
    assert.ok(v.ok, `openssl req -verify: ${v.out}`);
    const again = await agent("bootstrap", "pending.test", B);
    assert.equal(again.code, Exit.NOT_SIGNED);
    assert.match(again.out, /already submitted \(saved copy\), not sending it again/);
    // Forget the CSR here: step 4 asks the CA, which still holds it.
    fs.rmSync(file("pending.test", "certificate_requests/NAME.pem"));
    const forgot = await agent("bootstrap", "pending.test", B);
    assert.equal(forgot.code, Exit.NOT_SIGNED);
    assert.match(forgot.out, /the CA already holds one for this node; downloaded it, not resubmitted/);
    assert.equal(read("pending.test", "certificate_requests/NAME.pem"), fs.readFileSync(path.join(B.cadir, "requests", "pending.test.pem"), "utf8"));
  });

  it("waits waitforcert between polls and picks the certificate up once `fleetca ca sign` runs", async () => {
    let signing: Promise<void> | undefined;
    const r = await agent("bootstrap", "waiter.test", B, ["--waitforcert", "1"], {
      onOut: (l) => {
        if (!signing && /checking again in 1s/.test(l)) signing = ca(B, "sign", "waiter.test");
      },
    });
    await signing;
    ok(r);
    assert.match(r.out, /Certificate: downloaded from/);
    assert.ok(!fs.existsSync(file("waiter.test", "certificate_requests/NAME.pem")), "the CSR is removed once the certificate is in");
  });

  it("maxwaitforcert: gives up with its own exit code", async () => {
    const r = await agent("bootstrap", "patient.test", B, ["--waitforcert", "1", "--maxwaitforcert", "1"]);
    assert.equal(r.code, Exit.TIMED_OUT, r.err);
    assert.match(r.err, /Gave up after waiting/);
  });

  it("key mismatch: the seed's message, exit 4, and the printed fix works", async () => {
    ok(await agent("bootstrap", "lost-key.test", A));
    fs.rmSync(file("lost-key.test", "private_keys/NAME.pem"));
    const r = await agent("bootstrap", "lost-key.test", A);
    assert.equal(r.code, Exit.KEY_MISMATCH, r.err);
    assert.match(r.err, new RegExp(KEY_MISMATCH_MESSAGE.replace(/[.]/g, "\\.")));
    assert.match(r.err, /on the CA server: {2}fleetca ca clean lost-key\.test/);
    assert.match(r.err, /on this node: {6}fleetca agent clean --ssldir \S+ --certname lost-key\.test/);
    await ca(A, "clean", "lost-key.test");
    ok(await agent("clean", "lost-key.test", undefined));
    ok(await agent("bootstrap", "lost-key.test", A));
  });

  it("revoked: the server refuses the certificate, a fresh CRL says why (exit 6); verify agrees offline", async () => {
    ok(await agent("bootstrap", "gone.test", A));
    await ca(A, "revoke", "gone.test");
    await new Promise((r) => setTimeout(r, 1200)); // the server picks up a CLI revoke within a second
    const r = await agent("bootstrap", "gone.test", A);
    assert.equal(r.code, Exit.REVOKED, r.err);
    assert.match(r.err, /has been revoked by the CA/);
    assert.equal((await agent("verify", "gone.test", undefined)).code, Exit.REVOKED);
  });

  it("CA changed: the CA behind the same address was regenerated (exit 5); the printed fix enrolls again", async () => {
    const first = await startServer(path.join(work, "ca-c1"), true);
    let second: ServerProcess | undefined;
    try {
      ok(await agent("bootstrap", "moved.test", first));
      await first.stop();
      second = await startServer(path.join(work, "ca-c2"), true, first.port);
      const r = await agent("bootstrap", "moved.test", second);
      assert.equal(r.code, Exit.CA_CHANGED, r.err);
      assert.match(r.err, /The CA changed/);
      assert.match(r.err, /on this node: {6}fleetca agent clean --all/);
      assert.match(r.err, /--ca-fingerprint <new CA fingerprint>/);
      const newFp = fingerprint(parseCertificatePem(fs.readFileSync(path.join(second.cadir, "ca_crt.pem"), "utf8")).der);
      ok(await agent("clean", "moved.test", undefined, ["--all"]));
      ok(await agent("bootstrap", "moved.test", second, ["--ca-fingerprint", newFp]));
    } finally {
      await Promise.all([first.stop(), second?.stop()]);
    }
  });

  it("a server that is not our CA's at all is refused the same way", async () => {
    ok(await agent("bootstrap", "elsewhere.test", A));
    const r = await agent("bootstrap", "elsewhere.test", B);
    assert.equal(r.code, Exit.CA_CHANGED, r.err);
  });

  it("--ca-fingerprint pins the first contact; a wrong pin saves nothing (exit 5)", async () => {
    const caFp = fingerprint(parseCertificatePem(fs.readFileSync(path.join(A.cadir, "ca_crt.pem"), "utf8")).der);
    const wrong = await agent("bootstrap", "pinned.test", A, ["--ca-fingerprint", "00".repeat(32)]);
    assert.equal(wrong.code, Exit.CA_CHANGED, wrong.err);
    assert.ok(!fs.existsSync(file("pinned.test", "certs/ca.pem")));
    const right = await agent("bootstrap", "pinned.test", A, ["--ca-fingerprint", caFp.replace(/:/g, "").toLowerCase()]);
    ok(right);
    assert.match(right.out, /matches --ca-fingerprint/);
  });

  it("expired and not yet valid by the injected clock; renewal within hostcert_renewal_interval, and `agent renew`", async () => {
    assert.equal((await agent("bootstrap", "short.test", B)).code, Exit.NOT_SIGNED);
    await ca(B, "sign", "--ttl", "2d", "short.test");
    ok(await agent("bootstrap", "short.test", B, ["--hostcert-renewal-interval", "0"]));
    const late = await agent("bootstrap", "short.test", B, ["--hostcert-renewal-interval", "0"], { shiftMs: 3 * DAY });
    assert.equal(late.code, Exit.EXPIRED, late.err);
    assert.match(late.err, /expired at/);
    // Three days on, both refresh intervals (1d) have passed: the saved copies are checked (If-Modified-Since).
    assert.match(late.out, /CA certificate: still current/);
    assert.match(late.out, /CRL: still current/);
    const early = await agent("verify", "short.test", undefined, [], { shiftMs: -3 * DAY });
    assert.equal(early.code, Exit.VALIDITY, early.err);
    assert.match(early.err, /check the clock/);
    // Within 30 days (the default interval) of expiry: renewed automatically through certificate_renewal.
    const renewed = await agent("bootstrap", "short.test", B);
    ok(renewed);
    assert.match(renewed.out, /Certificate: renewed, now valid until/);
    assert.ok(parseCertificatePem(read("short.test", "certs/NAME.pem")).notAfter.getTime() > Date.now() + 365 * DAY);
    const forced = await agent("renew", "short.test", B);
    ok(forced);
    assert.match(forced.out, /Completed certificate renewal/);
  });

  it("server unreachable: exit 8 with what to check", async () => {
    const port = await freePort();
    const io = bufferIo({});
    const code = await runAgentCli(["bootstrap", "--server", "127.0.0.1", "--port", String(port), "--ssldir", ssldirOf("nowhere.test"), "--certname", "nowhere.test"], io);
    assert.equal(code, Exit.UNAVAILABLE, io.stderr.join("\n"));
    assert.match(io.stderr.join("\n"), /ECONNREFUSED/);
  });

  it("clean keeps the CA certificate and CRL unless --all; show and verify then say the certificate is missing", async () => {
    const c = await agent("clean", "fresh.test", undefined);
    ok(c);
    assert.match(c.out, /Removed private key .*private_keys\/fresh\.test\.pem/);
    assert.ok(fs.existsSync(file("fresh.test", "certs/ca.pem")));
    const v = await agent("verify", "fresh.test", undefined);
    assert.equal(v.code, Exit.FAILED);
    assert.match(v.err, /The client certificate is missing from/);
    const all = await agent("clean", "fresh.test", undefined, ["--all"]);
    assert.match(all.out, /Removed local CA certificate/);
  });
});
