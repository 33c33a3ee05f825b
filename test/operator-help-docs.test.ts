/**
 * Help and docs that match behaviour: every option in its command's --help, docs/settings.md generated from the
 * schema (fails on drift), `ca print` as readable as `openssl x509 -text`, `ca generate` writing the CA
 * certificate and CRL and taking --ttl, and the message fixes (submit's hint, the agent's fix flags, CA changed).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Command } from "commander";
import { AgentError, reenroll } from "../src/agent/errors.js";
import { failureError } from "../src/agent/failures.js";
import { fixContext } from "../src/cli/agent-common.js";
import { printAgentError } from "../src/cli/agent-render.js";
import { bufferIo } from "../src/cli/io.js";
import { buildProgram } from "../src/cli/main.js";
import { renderSettingsDoc, schemaSource } from "../src/cli/settings-doc.js";
import { loadSettings } from "../src/config/index.js";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { openssl, tmpDir } from "./helpers/openssl.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const dir = tmpDir("fleetca-helpdocs-");
const cadir = path.join(dir, "ca");
after(() => fs.rmSync(dir, { recursive: true, force: true }));
before(async () => {
  const r = await fleetca(["ca", "setup", "--cadir", cadir, "--key-type", "ec"]);
  assert.equal(r.code, 0, r.stderr);
});

function allCommands(cmd: Command, prefix = ""): [string, Command][] {
  return cmd.commands.flatMap((c) => [[`${prefix}${c.name()}`, c] as [string, Command], ...allCommands(c, `${prefix}${c.name()} `)]);
}

describe("help and docs", () => {
  test("every option every command accepts is in its --help (--store on every ca command)", () => {
    const commands = allCommands(buildProgram(bufferIo(), () => undefined));
    assert.ok(commands.length > 20);
    for (const [name, cmd] of commands) {
      const help = cmd.helpInformation();
      for (const o of cmd.options) assert.ok(help.includes(o.flags), `fleetca ${name} --help lacks ${o.flags}`);
      if (name.startsWith("ca ")) assert.match(help, /--store <url>/, `fleetca ${name} --help`);
    }
  });

  test("docs/settings.md is what `npm run docs:settings` makes from the schema: every setting, Puppet name, type, default, env, flag", () => {
    const doc = fs.readFileSync(path.join(ROOT, "docs/settings.md"), "utf8");
    assert.equal(doc, renderSettingsDoc(schemaSource()), "docs/settings.md is stale: run `npm run docs:settings`");
    assert.match(doc, /\| `cadir` \| `cadir` \| a directory path \| `\/var\/lib\/fleetca\/ca` \| `FLEETCA_CADIR` \| `--cadir` \(ca list,/);
    assert.match(doc, /\| `ca_ttl` \| `ca_ttl` \| a duration .* \| `5y` \| `FLEETCA_CA_TTL` \|/);
    // The check can fail: a setting's doc comment edited in the schema renders differently.
    const edited = schemaSource().replace("RSA key size in bits.", "RSA key size, in bits.");
    assert.notEqual(edited, schemaSource());
    assert.notEqual(renderSettingsDoc(edited), doc);
  });

  test("ca print reads like openssl x509 -text: key usage and EKU names, basic constraints, SANs, Puppet extensions by short name", async () => {
    const out = path.join(dir, "gen");
    const g = await fleetca(["ca", "generate", "web.test", "--cadir", cadir, "--key-type", "ec", "--dns-alt-names", "www.test,IP:192.0.2.7", "--out", out]);
    assert.equal(g.code, 0, g.stderr);
    const printed = (await fleetca(["ca", "print", "web.test", "--cadir", cadir])).stdout;
    const text = openssl(["x509", "-noout", "-text", "-in", path.join(out, "web.test.pem")]).out;
    const after = (label: string) => new RegExp(`${label}[^\\n]*\\n\\s*([^\\n]+)`).exec(text)?.[1]?.trim();
    for (const label of ["X509v3 Key Usage", "X509v3 Extended Key Usage", "X509v3 Basic Constraints"]) {
      const value = after(label);
      assert.ok(value, `openssl shows ${label}`);
      assert.ok(printed.includes(value!), `ca print shows "${value}" as openssl does:\n${printed}`);
    }
    assert.match(printed, /DNS:www\.test, IP:192\.0\.2\.7, DNS:web\.test|DNS:web\.test/);
    assert.match(printed, /Public Key: EC \(P-256\)/);
    assert.doesNotMatch(printed, /30:(00|14|0[0-9A-F]):/, "no raw DER");
    const caPrinted = (await fleetca(["ca", "print", "ca", "--cadir", cadir])).stdout;
    assert.match(caPrinted, /Basic Constraints \(critical\):\n\s+CA:TRUE/);
    assert.match(caPrinted, /Key Usage \(critical\):\n\s+Certificate Sign, CRL Sign/);
    // A pending request prints too, with Puppet's extensions by short name.
    const csr = opensslCsr("req.test", { dir, ext: ["1.3.6.1.4.1.34380.1.1.13=ASN1:UTF8String:webserver"] });
    fs.writeFileSync(path.join(dir, "req.csr"), csr.csrPem);
    assert.equal((await fleetca(["ca", "submit", path.join(dir, "req.csr"), "--cadir", cadir])).code, 0);
    const req = await fleetca(["ca", "print", "req.test", "--cadir", cadir]);
    assert.match(req.stdout, /Certificate Request:[\s\S]*pp_role \(1\.3\.6\.1\.4\.1\.34380\.1\.1\.13\):\n\s+webserver/);
  });

  test("ca generate writes ca.pem and crl.pem beside the key and certificate, takes --ttl, and openssl verifies with them", async () => {
    const out = path.join(dir, "ttl");
    const g = await fleetca(["ca", "generate", "short.test", "--cadir", cadir, "--key-type", "ec", "--ttl", "2d", "--out", out]);
    assert.equal(g.code, 0, g.stderr);
    for (const f of ["short.test.key.pem", "short.test.pem", "ca.pem", "crl.pem"]) assert.ok(fs.existsSync(path.join(out, f)), f);
    const v = openssl(["verify", "-crl_check", "-CAfile", path.join(out, "ca.pem"), "-CRLfile", path.join(out, "crl.pem"), path.join(out, "short.test.pem")]);
    assert.ok(v.ok, v.out);
    assert.ok(openssl(["x509", "-noout", "-checkend", String(3 * 86400), "-in", path.join(out, "short.test.pem")]).out.includes("will expire"));
    assert.ok(openssl(["x509", "-noout", "-checkend", String(86400), "-in", path.join(out, "short.test.pem")]).out.includes("will not expire"));
  });

  test("ca submit of a request with alt names: the hint carries --allow-dns-alt-names, and works pasted", async () => {
    const csr = opensslCsr("alt.test", { dir, san: "DNS:alt.test,DNS:other.test" });
    fs.writeFileSync(path.join(dir, "alt.csr"), csr.csrPem);
    const r = await fleetca(["ca", "submit", path.join(dir, "alt.csr"), "--cadir", cadir]);
    const hint = /`(fleetca ca sign[^`]*)`/.exec(r.stdout)?.[1];
    // The hint names the CA this submit was pointed at, so it works pasted as printed.
    assert.equal(hint, `fleetca ca sign --cadir ${cadir} --allow-dns-alt-names alt.test`);
    const signed = await fleetca(hint.split(" ").slice(1));
    assert.equal(signed.code, 0, signed.stderr);
  });

  test("the agent's fix commands repeat the flags used, --waitforcert 0 and --key-type ec included", () => {
    const flags = { server: "ca.test", waitforcert: "0", keyType: "ec", ssldir: "/tmp/x", caFingerprint: "AA" };
    const settings = loadSettings({ file: null, env: {}, flags: { server: "ca.test", certname: "n.test" } });
    const io = bufferIo();
    printAgentError(io, new AgentError("key-mismatch", "mismatch", { remedies: reenroll("n.test") }), fixContext(flags, settings));
    const bootstrap = io.stderr.find((l) => l.includes("fleetca agent bootstrap"));
    assert.match(bootstrap ?? "", /--waitforcert 0/);
    assert.match(bootstrap ?? "", /--key-type ec/);
  });

  test("CA changed: the server certificate's fingerprint is labelled as such, and the fix says where the new CA's comes from", () => {
    const e = failureError({ kind: "untrusted-server", code: "UNABLE", message: "x", peer: { subject: "CN=ca.test", issuer: "CN=Puppet CA: other", fingerprint256: "AB:CD" } }, "fetch", undefined);
    const io = bufferIo();
    printAgentError(io, e, { certname: "n.test", nodeFlags: "", serverFlags: " --server ca.test" });
    const text = io.stderr.join("\n");
    assert.match(text, /SHA256 of that server certificate: AB:CD; not the CA's fingerprint/);
    assert.match(text, /on the CA server:\s+fleetca ca fingerprint ca/);
  });
});
