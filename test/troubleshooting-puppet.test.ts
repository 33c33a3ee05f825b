/**
 * docs/troubleshooting.md, every case, with the real Puppet agent against `fleetca server`: each test makes the
 * failure happen, finds the guide's quoted words (its `> ` lines) in what the agent printed, so the guide cannot
 * drift from the agent, runs the case's `sh` block as written (fleetca lines on the CA host, the others in the
 * node's shell), and shows the node enrolled again: its certificate verified by openssl with its CA and CRL.
 *
 * Cost: one server for most cases and a second one (another CA, CRLs valid one minute) for "the CA changed" and
 * "the CRL expired"; two to four agent runs per case (each about 2-3 s of CPU: about 30 runs in all), all cases at
 * once. The longest is the CRL case, which waits for a real one-minute CRL to expire.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { bufferIo } from "../src/cli/io.js";
import { run } from "../src/cli/main.js";
import { crlStateFromDer } from "../src/pki/crl.js";
import { fromPem } from "../src/pki/pem.js";
import { tmpDir, verifyWithCrl } from "./helpers/openssl.js";
import { puppetMissing } from "./helpers/puppet.js";
import { configure, faketimeMissing, makeNode, onNode, startOnNode, type PuppetNode, type ShellResult } from "./helpers/puppet-node.js";
import { freePort, startServer, type ServerProcess } from "./helpers/server-process.js";

const skip = puppetMissing() ?? faketimeMissing() ?? false;
const dir = tmpDir("fleetca-troubleshooting-");
const GUIDE = fs.readFileSync(path.resolve(import.meta.dirname, "../docs/troubleshooting.md"), "utf8");
/** The usual CA; `other` is another CA (a regenerated one, or another server) whose CRLs live one minute. */
let ca: ServerProcess;
let other: ServerProcess;

before(async () => {
  if (skip) return;
  const config = (name: string, extra: string) => `cadir: ${path.join(dir, name, "ca")}\nkey_type: ec\nautosign: false\n${extra}`;
  [ca, other] = await Promise.all([
    startServer({ dir: path.join(dir, "ca"), config: config("ca", "") }),
    startServer({ dir: path.join(dir, "other"), config: config("other", "crl_ttl: 1m\n") }),
  ]);
});
after(async () => {
  await Promise.all([ca?.stop(), other?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The guide's section for a case (from its "### " heading to the next), by the id in its heading. */
function section(id: string): string {
  const start = GUIDE.indexOf(`{#${id}}`);
  assert.ok(start >= 0, `docs/troubleshooting.md has a case {#${id}}`);
  const end = GUIDE.indexOf("\n### ", start);
  return GUIDE.slice(start, end < 0 ? undefined : end);
}

/** The agent's words as the guide quotes them ("> " lines; NODE is the certname, … any text), found in `out`. */
function assertQuoted(id: string, out: string, certname: string): void {
  const quoted = [...section(id).matchAll(/^> `(.*)`$/gm)].map((m) => m[1]!);
  assert.ok(quoted.length > 0, `case ${id} quotes the agent`);
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (const q of quoted) {
    const pattern = q.split("…").map((part) => part.split("NODE").map(esc).join(esc(certname))).join(".*?");
    assert.match(out, new RegExp(pattern), `the guide's words for ${id}, in what the agent printed`);
  }
}

/** `fleetca ...` on the CA host, whose config file (FLEETCA_CONFIG, as /etc/fleetca/fleetca.yaml would) names the CA. */
async function onCa(server: ServerProcess, line: string): Promise<{ code: number; out: string }> {
  assert.doesNotMatch(line, /["'$`|;&<>]/, `a CA line the test runs without a shell: ${line}`);
  const io = bufferIo({ FLEETCA_CONFIG: server.configFile }, dir);
  const code = await run(line.split(/\s+/).slice(1), io);
  return { code, out: [...io.stdout, ...io.stderr].join("\n") };
}

/** Signs `name` as soon as its request is there (the node submits it meanwhile). */
async function signWhenThere(server: ServerProcess, line: string): Promise<string> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const r = await onCa(server, line);
    if (r.code === 0) return r.out;
    assert.ok(Date.now() < deadline && /Could not find|no certificate request|No certificate request/i.test(r.out), `${line}:\n${r.out}`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

/**
 * Commands of the guide this test cannot run for real, and what it does instead: `timedatectl set-ntp true` would
 * set this machine's clock (and needs systemd); its effect on the node, a right clock, is the faketime offset gone.
 */
const SIMULATED: Record<string, (node: PuppetNode) => void> = {
  "timedatectl set-ntp true": (node) => void (node.clock = undefined),
};

interface Case {
  node: PuppetNode;
  server: ServerProcess;
  /** Words of the guide's lines filled in: node.example.com is always the node's certname. */
  fill?: Record<string, string>;
}

/**
 * Runs the lines as the guide shows them: CA lines on the CA host, the others in the node's shell, each exiting 0.
 * A `puppet ssl bootstrap --waitforcert N` followed by CA lines runs while they do (the agent waits to be signed).
 */
async function runLines(c: Case, lines: string[]): Promise<ShellResult[]> {
  const results: ShellResult[] = [];
  let waiting: Promise<ShellResult> | undefined;
  const settle = async () => {
    if (!waiting) return;
    const r = await waiting;
    waiting = undefined;
    assert.equal(r.code, 0, `the waiting agent:\n${r.out}`);
    results.push(r);
  };
  for (const [i, raw] of lines.entries()) {
    let line = raw.replace(/\s+#\s.*$/, "").trim().replace(/node\.example\.com/g, c.node.certname);
    for (const [from, to] of Object.entries(c.fill ?? {})) line = line.split(from).join(to);
    if (line.startsWith("fleetca ")) {
      const r = / ca sign /.test(line) && waiting ? { code: 0, out: await signWhenThere(c.server, line) } : await onCa(c.server, line);
      assert.equal(r.code, 0, `${line}:\n${r.out}`);
      results.push(r);
    } else if (line in SIMULATED) {
      await settle();
      SIMULATED[line]!(c.node);
    } else {
      await settle();
      const later = lines.slice(i + 1).some((l) => l.startsWith("fleetca "));
      if (/^puppet ssl bootstrap .*--waitforcert [1-9]/.test(line) && later) waiting = onNode(c.node, line);
      else {
        const r = await onNode(c.node, line);
        assert.equal(r.code, 0, `${line}:\n${r.out}`);
        results.push(r);
      }
    }
  }
  await settle();
  return results;
}

/** A case's documented fix: the lines of its ```sh block. */
function runFix(id: string, c: Case): Promise<ShellResult[]> {
  const block = /```sh\n([\s\S]*?)```/.exec(section(id))?.[1];
  assert.ok(block, `case ${id} has a sh block`);
  return runLines(c, block.split("\n").filter((l) => l.trim()));
}

/** The node holds a certificate for its certname that openssl verifies with the CA and CRL it saved. */
function assertEnrolled(node: PuppetNode, certname = node.certname): void {
  const read = (f: string) => fs.readFileSync(path.join(node.ssldir, f), "utf8");
  const v = verifyWithCrl(read("certs/ca.pem"), read("crl.pem"), read(`certs/${certname}.pem`));
  assert.ok(v.ok, v.out);
}

/**
 * A node enrolled earlier. Its credentials are made on the CA (`fleetca ca generate`, optionally with --ttl) and laid
 * out as Puppet keeps them, which saves an agent run per case: the failures and the fixes are the agent's own.
 */
async function enrolled(c: Case, generateFlags = ""): Promise<void> {
  const out = path.join(c.node.root, "generated");
  const r = await onCa(c.server, `fleetca ca generate ${c.node.certname} ${generateFlags} --out ${out}`.replace(/ +/g, " "));
  assert.equal(r.code, 0, r.out);
  const put = (from: string, to: string) => {
    fs.mkdirSync(path.dirname(path.join(c.node.ssldir, to)), { recursive: true });
    fs.copyFileSync(path.join(out, from), path.join(c.node.ssldir, to));
  };
  put(`${c.node.certname}.key.pem`, `private_keys/${c.node.certname}.pem`);
  put(`${c.node.certname}.pem`, `certs/${c.node.certname}.pem`);
  put("ca.pem", "certs/ca.pem");
  put("crl.pem", "crl.pem");
  fs.rmSync(out, { recursive: true, force: true });
  assertEnrolled(c.node);
}

const failing = async (node: PuppetNode, line: string): Promise<string> => {
  const r = await onNode(node, line);
  assert.notEqual(r.code, 0, `${line} should fail:\n${r.out}`);
  return r.out;
};

describe("troubleshooting guide, every case with the real Puppet agent", { skip, concurrency: true }, () => {
  const node = (server: ServerProcess, certname: string) => makeNode(path.join(dir, "nodes"), certname, server.port);

  test("the CRL expired: a node's one-minute CRL expires; refresh-crl and a refresh let it in", async () => {
    const c = { server: other, node: node(other, "crl.example.test") };
    await enrolled(c);
    const nextUpdate = crlStateFromDer(fromPem(fs.readFileSync(path.join(c.node.ssldir, "crl.pem"), "utf8"), ["X509 CRL"], "CRL")).nextUpdate;
    await new Promise((r) => setTimeout(r, Math.max(0, nextUpdate.getTime() - Date.now()) + 1500));
    assertQuoted("crl-expired", await failing(c.node, "puppet ssl bootstrap --waitforcert 0"), c.node.certname);
    await runFix("crl-expired", c);
    assertEnrolled(c.node);
  });

  test("a lost key after submitting: refused, shown superseded, the documented fix lets the new request in", async () => {
    const c = { server: ca, node: node(ca, "lost.example.test") };
    await failing(c.node, "puppet ssl bootstrap --waitforcert 0");
    fs.rmSync(c.node.ssldir, { recursive: true, force: true }); // the node loses its key and request
    assertQuoted("lost-key", await failing(c.node, "puppet ssl bootstrap --waitforcert 0"), c.node.certname);
    const list = await onCa(ca, "fleetca ca list");
    assert.match(list.out, /"lost\.example\.test".*\(superseded: .*to let it in: fleetca ca clean lost\.example\.test\)/);
    await runFix("lost-key", c);
    assertEnrolled(c.node);
  });

  test("certificate and key mismatch: the key was lost after signing", async () => {
    const c = { server: ca, node: node(ca, "mismatch.example.test") };
    await enrolled(c);
    for (const d of ["private_keys", "certs/mismatch.example.test.pem"]) fs.rmSync(path.join(c.node.ssldir, d), { recursive: true, force: true });
    assertQuoted("key-mismatch", await failing(c.node, "puppet ssl bootstrap --waitforcert 0"), c.node.certname);
    await runFix("key-mismatch", c);
    assertEnrolled(c.node);
  });

  test("a duplicate name: a second machine with the same certname; it gets its own", async () => {
    const first = { server: ca, node: makeNode(path.join(dir, "nodes"), "twin.example.test", ca.port, "twin-1") };
    await enrolled(first);
    const second = makeNode(path.join(dir, "nodes"), "twin.example.test", ca.port, "twin-2");
    assertQuoted("duplicate-name", await failing(second, "puppet ssl bootstrap --waitforcert 0"), "twin.example.test");
    await runFix("duplicate-name", { server: ca, node: second, fill: { "other.example.com": "twin-2.example.test" } });
    assertEnrolled(second, "twin-2.example.test");
    assertEnrolled(first.node);
  });

  test("a revoked certificate: the node's next CRL refresh fails it; clean on both sides and enroll again", async () => {
    const c = { server: ca, node: node(ca, "revoked.example.test") };
    await enrolled(c);
    assert.equal((await onCa(ca, `fleetca ca revoke ${c.node.certname}`)).code, 0);
    assertQuoted("revoked", await failing(c.node, "puppet ssl bootstrap --waitforcert 0 --crl_refresh_interval 1s"), c.node.certname);
    await runFix("revoked", c);
    assertEnrolled(c.node);
  });

  test("a request with alt names: a plain sign refuses it, the documented sign lets it through", async () => {
    const c = { server: ca, node: node(ca, "alt.example.test") };
    const out = await failing(c.node, "puppet ssl bootstrap --waitforcert 0 --dns_alt_names alt.example.test,www.example.test");
    assertQuoted("alt-names", out, c.node.certname);
    const plain = await onCa(ca, `fleetca ca sign ${c.node.certname}`);
    assert.notEqual(plain.code, 0);
    assert.match(plain.out, /To allow subject alternative names, sign with --allow-dns-alt-names/);
    assert.ok(section("alt-names").includes("`To allow subject alternative names, sign with\n--allow-dns-alt-names`"), "the guide quotes the refusal");
    await runFix("alt-names", c);
    assertEnrolled(c.node);
  });

  test("a forgotten CSR: the agent asks again with the same key and waits; signing the one request enrolls it", async () => {
    const c = { server: ca, node: node(ca, "forgot.example.test") };
    const first = await failing(c.node, "puppet ssl bootstrap --waitforcert 0");
    const fp = /Certificate Request fingerprint \(SHA256\): (\S+)/.exec(first)?.[1];
    assert.ok(fp, first);
    fs.rmSync(path.join(c.node.ssldir, "certificate_requests"), { recursive: true, force: true });
    const waiting = startOnNode(c.node, "puppet ssl bootstrap --waitforcert 2");
    // The operator signs once the agent has asked again and waits (as it would be found: the agent is not signed).
    while (!/Will try again/.test(waiting.output())) {
      assert.equal(await Promise.race([waiting.done.then(() => "ended"), new Promise((r) => setTimeout(() => r("waiting"), 200))]), "waiting", waiting.output());
    }
    const [list] = await runFix("forgotten-csr", c);
    // Its own line only: the other cases share this CA (the lost-key case's request is marked superseded meanwhile).
    const line = list!.out.split("\n").find((l) => l.includes('"forgot.example.test"'));
    assert.equal(line, `"forgot.example.test" (SHA256) ${fp}`, "one request, the one the agent first submitted, not superseded");
    const r = await waiting.done;
    assert.equal(r.code, 0, r.out);
    assertQuoted("forgotten-csr", r.out, c.node.certname);
    assertEnrolled(c.node);
  });

  test("the CA changed: the saved CA does not verify the new server; clean --localca, enroll, same fingerprint", async () => {
    const c = { server: other, node: node(ca, "moved.example.test") };
    await enrolled({ server: ca, node: c.node });
    configure(c.node, { serverport: other.port });
    assertQuoted("ca-changed", await failing(c.node, "puppet ssl bootstrap --waitforcert 0 --crl_refresh_interval 1s"), c.node.certname);
    const results = await runFix("ca-changed", c);
    const fingerprint = /\(SHA256\) (\S+)/.exec(results[0]!.out)?.[1];
    assert.ok(fingerprint, results[0]!.out);
    assert.match(results.at(-1)!.out, new RegExp(`Fingerprint=${fingerprint}$`, "im"), "the node's new CA is the one the CA host shows");
    assertEnrolled(c.node);
  });

  test("an expired certificate: a 30-day certificate a month later; enroll again", async () => {
    const c = { server: ca, node: node(ca, "expired.example.test") };
    await enrolled(c, "--ttl 30d");
    c.node.clock = "+31d"; // a month later, for the node: its clock is right, time went by
    assertQuoted("expired", await failing(c.node, "puppet ssl bootstrap --waitforcert 0"), c.node.certname);
    await runFix("expired", c);
    assertEnrolled(c.node);
  });

  test("a clock off: a node two days behind sees the CRL not yet valid; with the clock right it verifies", async () => {
    const c = { server: ca, node: node(ca, "clock.example.test") };
    await enrolled(c);
    c.node.clock = "-2d";
    assertQuoted("clock-off", await failing(c.node, "puppet ssl bootstrap --waitforcert 0"), c.node.certname);
    await runFix("clock-off", c);
    assertEnrolled(c.node);
  });

  test("the CA unreachable: nothing listens where the node looks; the port from the start summary fixes it", async () => {
    const c = { server: ca, node: makeNode(path.join(dir, "nodes"), "far.example.test", await freePort()) };
    assertQuoted("unreachable", await failing(c.node, "puppet ssl bootstrap --waitforcert 0"), c.node.certname);
    const port = /^Listening on https:\/\/[^:]+:(\d+);/m.exec(ca.stderr())?.[1];
    assert.equal(port, String(ca.port), "the start summary says where the server listens");
    await runFix("unreachable", { ...c, fill: { "8140": port! } });
    assertEnrolled(c.node);
  });
});
