/**
 * No message prints a command that fails when pasted. Each recovery message of the CLI, the server and the agent
 * that suggests a command is made to happen with real processes (`fleetca` from the PATH, the real Puppet agent),
 * the command is taken from the printed text and run as printed with `sh -c` (only the placeholders the message
 * names are filled in), and the test checks it did what the message said.
 *
 * Where the commands run: "the CA host" is a shell whose FLEETCA_CONFIG names the CA's config file (as
 * /etc/fleetca/fleetca.yaml would on a real CA host, where nobody types --config); a message printed for a command
 * given --cadir or --config repeats it. "A node" is a shell with the node's own settings (FLEETCA_SSLDIR and
 * FLEETCA_CERTNAME for `fleetca agent`, puppet.conf for Puppet).
 *
 * Not pasted here, and why: the Puppet Server alternatives the agent prints beside fleetca's own
 * (`puppetserver ca …`: no Puppet Server here), `timedatectl` (it would set this machine's clock; the clock case is
 * test/troubleshooting-puppet.test.ts), and the messages of `ca regenerate` and `ca passphrase --rotate` (their own
 * tests: test/regenerate-drill.test.ts, test/store-postgres.test.ts).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildSync } from "esbuild";
import { Exit } from "../src/cli/exit-codes.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { puppetMissing } from "./helpers/puppet.js";
import { makeNode, startOnNode } from "./helpers/puppet-node.js";
import { freePort } from "./helpers/server-process.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const work = tmpDir("fleetca-paste-");
const bin = path.join(work, "bin");
/** Under the repository (.test-tmp is ignored) so the bundle finds node_modules and package.json as dist/ would. */
const bundleDir = path.join(ROOT, ".test-tmp", `paste-${process.pid}`);
const noPuppet = puppetMissing() ?? false;

before(() => {
  // `fleetca` on the PATH: the CLI bundled from the sources once, so each pasted command is one quick process.
  buildSync({ entryPoints: [path.join(ROOT, "test/helpers/cli-entry.ts")], bundle: true, platform: "node", format: "esm", packages: "external", target: "node20", outfile: path.join(bundleDir, "fleetca.mjs"), logLevel: "error" });
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, "fleetca"), `#!/bin/sh\nexec ${process.execPath} ${path.join(bundleDir, "fleetca.mjs")} "$@"\n`, { mode: 0o755 });
});
after(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(bundleDir, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

/** A command line in a shell with `fleetca` on the PATH and `env` set, as typed or pasted. */
function sh(line: string, env: Record<string, string> = {}, input?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", line], { cwd: work, env: { PATH: `${bin}:${process.env.PATH ?? ""}`, HOME: work, LANG: "C.UTF-8", ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.stdin.end(input ?? "");
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

/** Runs a pasted command, which must succeed. */
async function paste(line: string, env: Record<string, string> = {}, input?: string): Promise<Ran> {
  const r = await sh(line, env, input);
  assert.equal(r.code, 0, `pasted: ${line}\n${r.out}${r.err}`);
  return r;
}

/** The first capture of `re` in a message: the command it suggests. */
function suggested(text: string, re: RegExp): string {
  const m = re.exec(text)?.[1];
  assert.ok(m, `no suggested command matching ${re} in:\n${text}`);
  return m;
}

describe("every suggested command works pasted: the CLI's recovery messages", () => {
  const s = (p: string) => path.join(work, "cli", p);
  const env = { FLEETCA_KEY_TYPE: "ec" }; // the operator's choice of key, in their environment

  test("no CA: setup and import as printed; sign, submit, generate, print, check, migrate hints", async () => {
    const none = await sh(`fleetca ca list --cadir ${s("ca")}`, env);
    assert.notEqual(none.code, 0);
    await paste(suggested(none.err, /`(fleetca ca setup[^`]*)`/), env);
    assert.ok(fs.existsSync(s("ca/ca_crt.pem")), "setup made the CA where list looked");
    assert.equal((await sh(`fleetca ca list --cadir ${s("ca")}`, env)).code, 0);

    // The import it names, its placeholders (which it names) filled with Puppet's CA files.
    const none2 = await sh(`fleetca ca sign --all --cadir ${s("ca2")}`, env);
    const importLine = suggested(none2.err, /`(fleetca ca import[^`]*)`/);
    assert.match(none2.err, /CA_CRT, CA_KEY, CA_CRL: .*ca_crt\.pem, ca_key\.pem and ca_crl\.pem/);
    await paste(importLine.replace("CA_CRT", s("ca/ca_crt.pem")).replace("CA_KEY", s("ca/ca_key.pem")).replace("CA_CRL", s("ca/ca_crl.pem")), env);
    assert.equal(fs.readFileSync(s("ca2/ca_crt.pem"), "utf8"), fs.readFileSync(s("ca/ca_crt.pem"), "utf8"));

    const usage = await sh(`fleetca ca sign --cadir ${s("ca")}`, env);
    assert.notEqual(usage.code, 0);
    await paste(suggested(usage.err, /`(fleetca ca list[^`]*)`/), env);

    // submit of a request with alt names: its sign hint signs it.
    fs.mkdirSync(s("csr"), { recursive: true });
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", s("csr/alt.key"), "-out", s("csr/alt.csr"), "-subj", "/CN=alt.test", "-addext", "subjectAltName=DNS:alt.test,DNS:www.alt.test"]);
    const submitted = await paste(`fleetca ca submit ${s("csr/alt.csr")} --cadir ${s("ca")}`, env);
    const signed = await paste(suggested(submitted.out, /`(fleetca ca sign[^`]*)`/), env);
    assert.match(signed.out, /Successfully signed certificate request for alt\.test/);

    // check: the request of a signed name left behind (as an interrupted Puppet tool may leave it); the repair it names.
    fs.copyFileSync(s("csr/alt.csr"), s("ca/requests/alt.test.pem"));
    const check = await sh(`fleetca ca check --cadir ${s("ca")}`, env);
    assert.notEqual(check.code, 0);
    await paste(suggested(check.err, /`(fleetca ca check[^`]*--repair[^`]*)`/), env);
    assert.equal((await sh(`fleetca ca check --cadir ${s("ca")}`, env)).code, 0, "consistent after the repair");

    // generate of a taken name: the clean it names frees it.
    const taken = await sh(`fleetca ca generate alt.test --out ${s("keys")} --cadir ${s("ca")}`, env);
    assert.notEqual(taken.code, 0);
    await paste(suggested(taken.err, /`(fleetca ca clean[^`]*)`/), env);
    await paste(`fleetca ca generate alt.test --out ${s("keys")} --cadir ${s("ca")}`, env);

    const missing = await sh(`fleetca ca print nobody.test --cadir ${s("ca")}`, env);
    assert.notEqual(missing.code, 0);
    assert.match((await paste(suggested(missing.err, /`(fleetca ca list[^`]*--all[^`]*)`/), env)).out, /\+ "alt\.test"/);


    const migrated = await paste(`fleetca ca migrate --cadir ${s("ca")} --to ${s("copy")}`, env);
    const listCopy = await paste(suggested(migrated.out, /\(e\.g\. (fleetca ca list --all --cadir \S+)\)/), env);
    assert.equal(listCopy.out, (await paste(`fleetca ca list --all --cadir ${s("ca")}`, env)).out);
  });

  test("a CA near its end: the fixes list names, extend and refresh-crl, end the warnings", async () => {
    await paste(`fleetca ca setup --cadir ${s("short")} --ca-ttl 30d`, env);
    const warned = await paste(`fleetca ca list --cadir ${s("short")}`, env);
    const extend = suggested(warned.err, /Fix: (fleetca ca extend[^.;)\n]*?)(?:[.;)]|$)/m);
    await paste(extend, env, "");
    const after = await paste(`fleetca ca list --cadir ${s("short")}`, env);
    assert.doesNotMatch(after.err, /CA certificate .* expires/);
    const crl = /Fix: (fleetca ca refresh-crl[^.;)\n]*?)(?:[.;)]|$)/m.exec(after.err)?.[1];
    if (crl) await paste(crl, env);
    assert.doesNotMatch((await paste(`fleetca ca list --cadir ${s("short")}`, env)).err, /expires|Fix:/, "no warning left");
  });

  test("no console users: the adduser it names (NAME filled in, the password on stdin) adds one", async () => {
    await paste(`fleetca ca setup --cadir ${s("console")}`, env);
    const none = await sh(`fleetca console users --cadir ${s("console")}`, env);
    const add = suggested(none.out + none.err, /`(fleetca console adduser[^`]*)`/);
    assert.match(add, /\bNAME\b/);
    await paste(add.replace("NAME", "alice"), env, "a long enough passphrase\n");
    assert.match((await paste(`fleetca console users --cadir ${s("console")}`, env)).out, /alice/);
  });
});

describe("every suggested command works pasted: the server's and the agents' messages", { skip: noPuppet }, () => {
  const h = (p: string) => path.join(work, "host", p);
  const config = h("fleetca.yaml");
  const caHost = { FLEETCA_CONFIG: config };
  let port = 0;
  let summary = "";
  let stopServer: () => Promise<void> = async () => undefined;

  /** `fleetca server` as the CA host starts it; resolves once it listens (with what it printed), or with its exit. */
  function startServer(line: string, env: Record<string, string>): Promise<{ listening: boolean; err: string; stop(): Promise<void> }> {
    return new Promise((resolve) => {
      const child = spawn("sh", ["-c", `exec ${line}`], { cwd: work, env: { PATH: `${bin}:${process.env.PATH ?? ""}`, HOME: work, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      const exited = new Promise<void>((r) => child.on("exit", () => r()));
      const stop = async () => void (child.exitCode === null && child.kill("SIGTERM"), await exited);
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes('"msg":"listening"')) resolve({ listening: true, err, stop });
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      child.on("exit", () => resolve({ listening: false, err: err + out, stop }));
    });
  }

  before(async () => {
    port = await freePort();
    fs.mkdirSync(h(""), { recursive: true });
    fs.writeFileSync(config, `cadir: ${h("ca")}\nkey_type: ec\nautosign: false\nbind: 127.0.0.1\nport: ${port}\ncertname: localhost\n`);
    const s = await startServer("fleetca server", caHost);
    assert.ok(s.listening, s.err);
    summary = s.err;
    stopServer = s.stop;
  });
  after(() => stopServer());

  /** A `fleetca agent` node: its own ssldir and certname, in its environment. */
  const agentNode = (certname: string) => ({ FLEETCA_SSLDIR: h(`nodes/${certname}/ssl`), FLEETCA_CERTNAME: certname, FLEETCA_WAITFORCERT: "0", FLEETCA_KEY_TYPE: "ec" });
  /** The fix lines of an agent error: [where, command]. */
  const fixes = (text: string) => [...text.matchAll(/^ {2}on (the CA server|this node): +(\S.*?)(?: {3}\(.*)?$/gm)].map((m) => [m[1]!, m[2]!] as const);
  async function pasteFixes(text: string, node: Record<string, string>, fill: Record<string, string> = {}): Promise<Ran[]> {
    const lines = fixes(text);
    assert.ok(lines.length > 0, `fix lines in:\n${text}`);
    const out: Ran[] = [];
    for (const [where, raw] of lines) {
      let line = raw;
      for (const [k, v] of Object.entries(fill)) line = line.split(k).join(v);
      out.push(where === "this node" ? await sh(line, node) : await paste(line, caHost));
    }
    return out;
  }

  test("the start summary: its Puppet, fleetca agent and ca list lines, pasted, enroll nodes and list them", async () => {
    const puppetLine = suggested(summary, /^ {2}(puppet ssl bootstrap .*)$/m);
    const agentLine = suggested(summary, /^ {2}(fleetca agent bootstrap .*)$/m);
    const manage = suggested(summary, /^Manage it \(list, sign, revoke\): (fleetca ca list.*)$/m);
    const pnode = makeNode(h("nodes"), "puppet1.test", 1); // the port comes from the pasted line
    fs.appendFileSync(path.join(pnode.root, "conf", "puppet.conf"), "waitforcert = 2\n");
    const waiting = startOnNode(pnode, puppetLine);
    const agent = await sh(agentLine, agentNode("agent1.test"));
    assert.equal(agent.code, Exit.NOT_SIGNED, `not signed yet:\n${agent.out}${agent.err}`);
    for (;;) {
      const listed = await paste(manage);
      if (listed.out.includes('"puppet1.test"')) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.match((await paste(manage)).out, /"agent1\.test"/);
    await paste("fleetca ca sign puppet1.test", caHost);
    const r = await waiting.done;
    assert.equal(r.code, 0, r.out);
    // The agent's own fix: sign on the CA host, bootstrap again on the node (with the flags typed).
    const [, again] = await pasteFixes(agent.err, agentNode("agent1.test"));
    assert.equal(again!.code, 0, again!.out + again!.err);
    assert.match(again!.out, /^Verified: /m);
  });

  test("the README's enrollment lines, with the CA's name and port put in where the README says they stand", async () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    assert.match(readme, /`ca\.example\.com` stands for your CA server's name and 8140 for its port \(`fleetca agent` takes `--port`/);
    const puppetLine = suggested(readme, /^(puppet ssl bootstrap --server ca\.example\.com --serverport 8140)\b/m).replace("ca.example.com", "localhost").replace("8140", String(port));
    const agentLine = suggested(readme, /^(fleetca agent bootstrap --server ca\.example\.com)\b/m).replace("ca.example.com", "localhost");
    const pnode = makeNode(h("nodes"), "readme-puppet.test", 1);
    fs.appendFileSync(path.join(pnode.root, "conf", "puppet.conf"), "waitforcert = 2\n");
    const waiting = startOnNode(pnode, puppetLine);
    // Not on 8140 here: the node's own setting gives the port, as the README says --port would.
    const agentEnv = { ...agentNode("readme-agent.test"), FLEETCA_PORT: String(port) };
    const agent = await sh(agentLine, agentEnv);
    assert.equal(agent.code, Exit.NOT_SIGNED, `submitted, not signed yet:\n${agent.out}${agent.err}`);
    assert.match(agent.out, /trusted on first use: compare it with `fleetca ca fingerprint ca` on the CA/);
    const fp = suggested((await paste("fleetca ca fingerprint ca", caHost)).out, /\(SHA256\) (\S+)/);
    assert.ok(agent.out.includes(fp), "the fingerprint the agent trusted is the CA host's");
    for (;;) {
      if ((await sh("fleetca ca sign readme-puppet.test", caHost)).code === 0) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    const r = await waiting.done;
    assert.equal(r.code, 0, r.out);
    const [, again] = await pasteFixes(agent.err, agentEnv);
    assert.equal(again!.code, 0, again!.out + again!.err);
  });

  test("fleetca agent: key mismatch, lost key after submitting, alt names, CA changed: each fix as printed", async () => {
    const n1 = agentNode("agent1.test");
    const line = suggested(summary, /^ {2}(fleetca agent bootstrap .*)$/m);
    // Key mismatch: the node lost its key after it was signed.
    fs.rmSync(path.join(n1.FLEETCA_SSLDIR, "private_keys"), { recursive: true, force: true });
    fs.rmSync(path.join(n1.FLEETCA_SSLDIR, "certs", "agent1.test.pem"), { force: true });
    const mismatch = await sh(line, n1);
    assert.notEqual(mismatch.code, 0);
    const [, , boot] = await pasteFixes(mismatch.err, n1);
    assert.equal(boot!.code, Exit.NOT_SIGNED, "a new request, waiting to be signed");
    const [, again] = await pasteFixes(boot!.err, n1);
    assert.equal(again!.code, 0, again!.err);

    // Lost key after submitting: the clean it names drops the request whose key is gone.
    const n2 = agentNode("agent2.test");
    assert.equal((await sh(line, n2)).code, Exit.NOT_SIGNED);
    fs.rmSync(n2.FLEETCA_SSLDIR, { recursive: true, force: true });
    // fleetca agent finds the request the CA holds, made with the lost key, and says so rather than resubmitting.
    const refused = await sh(line, n2);
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /The certificate request the CA already holds for agent2\.test was made with a different private key/);
    const results = await pasteFixes(refused.err, n2);
    const last = results.at(-1)!;
    assert.equal(last.code, Exit.NOT_SIGNED, "the new request is in, waiting to be signed");
    assert.doesNotMatch((await paste("fleetca ca list", caHost)).out, /superseded/);

    // Alt names: the sign it names takes them.
    const n3 = agentNode("agent3.test");
    const alt = await sh(`${line} --dns-alt-names www.agent3.test`, n3);
    assert.equal(alt.code, Exit.NOT_SIGNED);
    assert.match(alt.err, /fleetca ca sign --allow-dns-alt-names agent3\.test/);
    const [signedAlt, bootAlt] = await pasteFixes(alt.err, n3);
    assert.match(signedAlt!.out, /Successfully signed/);
    assert.equal(bootAlt!.code, 0, bootAlt!.err);

    // CA changed: another CA at the address the node uses; its fingerprint, as the message says to take it.
    const other = h("other.yaml");
    const otherPort = await freePort();
    fs.writeFileSync(other, `cadir: ${h("other-ca")}\nkey_type: ec\nautosign: true\nbind: 127.0.0.1\nport: ${otherPort}\ncertname: localhost\n`);
    const b = await startServer("fleetca server", { FLEETCA_CONFIG: other });
    assert.ok(b.listening, b.err);
    try {
      const moved = await sh(line.replace(`--port ${port}`, `--port ${otherPort}`).replace(/ --ca-fingerprint \S+/, ""), n1);
      assert.notEqual(moved.code, 0);
      assert.match(moved.err, /CA changed/i);
      const lines = fixes(moved.err);
      const fpLine = lines.find(([w]) => w === "the CA server")?.[1];
      assert.equal(fpLine, "fleetca ca fingerprint ca");
      const fp = suggested((await paste(fpLine, { FLEETCA_CONFIG: other })).out, /\(SHA256\) (\S+)/);
      for (const [where, cmd] of lines) {
        if (where !== "this node") continue;
        assert.ok(!cmd.includes("<") || cmd.includes("<new CA fingerprint>"), `only the placeholder the message names: ${cmd}`);
        const r = await sh(cmd.replace("<new CA fingerprint>", fp), n1);
        assert.equal(r.code, 0, `${cmd}\n${r.out}${r.err}`);
      }
      const pinned = openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", path.join(n1.FLEETCA_SSLDIR, "certs", "ca.pem")]).out;
      assert.ok(pinned.includes(fp), "the node now trusts the CA whose fingerprint the CA host printed");
    } finally {
      await b.stop();
    }
  });

  test("the server: the clean it names for a server certificate without its key, and the chmod for an open CA key", async () => {
    const cfg = h("third.yaml");
    const thirdPort = await freePort();
    fs.writeFileSync(cfg, `cadir: ${h("third-ca")}\nssldir: ${h("third-ssl")}\nkey_type: ec\nbind: 127.0.0.1\nport: ${thirdPort}\ncertname: localhost\n`);
    await paste(`fleetca ca setup --config ${cfg}`);
    // A certificate for the server's name was made elsewhere: the server has no key for it.
    await paste(`fleetca ca generate localhost --out ${h("elsewhere")} --config ${cfg}`);
    fs.chmodSync(path.join(h("third-ca"), "ca_key.pem"), 0o644);
    let s = await startServer(`fleetca server --config ${cfg}`, {});
    assert.equal(s.listening, false);
    await paste(suggested(s.err, /Fix: (chmod o-rwx \S+) /));
    s = await startServer(`fleetca server --config ${cfg}`, {});
    assert.equal(s.listening, false);
    await paste(suggested(s.err, /Run `(fleetca ca clean[^`]*)`/));
    s = await startServer(`fleetca server --config ${cfg}`, {});
    assert.ok(s.listening, s.err);
    await s.stop();
  });
});
