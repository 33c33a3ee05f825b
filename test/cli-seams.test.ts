/**
 * The seams as an operator meets them at the CA host's shell: revocation reasons in the CRL,
 * the audit trail of every CLI change, `generate` following the key settings and the
 * duplicate rule, and `import` never reusing a serial the old CA issued.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { crlText, openssl, tmpDir, x509Text } from "./helpers/openssl.js";

const read = (cadir: string, f: string) => fs.readFileSync(path.join(cadir, f), "utf8");
const ME = `cli:${os.userInfo().username}@${os.hostname()}`;

async function newCa(): Promise<string> {
  const cadir = path.join(tmpDir(), "ca");
  const r = await fleetca(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com"]);
  assert.equal(r.code, 0, r.stderr);
  return cadir;
}

async function signed(cadir: string, ...names: string[]): Promise<void> {
  // One at a time, so the audit trail's order is the order here.
  for (const n of names) {
    fs.writeFileSync(path.join(cadir, "requests", `${n}.pem`), opensslCsr(n).csrPem);
    const r = await fleetca(["ca", "sign", n, "--cadir", cadir]);
    assert.equal(r.code, 0, r.stderr);
  }
}

function serialOf(certPem: string): string {
  const r = openssl(["x509", "-noout", "-serial"], certPem);
  return r.out.trim().replace(/^serial=/, "").replace(/^0+(?=.)/, "");
}

test("revoke --reason puts the RFC 5280 reason in the CRL entry; without it, keyCompromise as Puppet does", async () => {
  const cadir = await newCa();
  await signed(cadir, "old.example.com", "leaver.example.com");
  assert.equal((await fleetca(["ca", "revoke", "old.example.com", "--reason", "superseded", "--cadir", cadir])).code, 0);
  assert.equal((await fleetca(["ca", "revoke", "leaver.example.com", "--cadir", cadir])).code, 0);
  const text = crlText(read(cadir, "ca_crl.pem"), read(cadir, "ca_crt.pem"));
  assert.ok(text.ok, text.out);
  const entries = text.out.split("Serial Number:").slice(1);
  const bySerial = new Map(entries.map((e) => [e.trim().split(/\s/)[0]!.replace(/^0+(?=.)/, ""), e]));
  assert.match(bySerial.get(serialOf(read(cadir, "signed/old.example.com.pem")))!, /Superseded/);
  assert.match(bySerial.get(serialOf(read(cadir, "signed/leaver.example.com.pem")))!, /Key Compromise/);
});

test("a misspelt reason revokes nothing and says which reasons exist", async () => {
  const cadir = await newCa();
  await signed(cadir, "n1.example.com");
  const crlBefore = read(cadir, "ca_crl.pem");
  const r = await fleetca(["ca", "revoke", "n1.example.com", "--reason", "supersede", "--cadir", cadir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Unknown revocation reason "supersede".*superseded/);
  assert.equal(read(cadir, "ca_crl.pem"), crlBefore, "the CRL is untouched");
});

test("every CLI change and refusal lands in the audit trail with the local operator, and `ca audit` filters it", async () => {
  const cadir = await newCa();
  await signed(cadir, "web1.example.com", "web2.example.com");
  fs.writeFileSync(path.join(cadir, "csr.pem"), opensslCsr("db1.example.com").csrPem);
  assert.equal((await fleetca(["ca", "submit", path.join(cadir, "csr.pem"), "--cadir", cadir])).code, 0);
  assert.equal((await fleetca(["ca", "revoke", "web1.example.com", "--reason", "cessationOfOperation", "--cadir", cadir])).code, 0);
  assert.equal((await fleetca(["ca", "clean", "web2.example.com", "--cadir", cadir])).code, 0);
  assert.notEqual((await fleetca(["ca", "sign", "nobody.example.com", "--cadir", cadir])).code, 0);

  // The file itself: JSON lines in the CA directory, written by the store.
  const lines = read(cadir, "audit.log").trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => [l.action, l.outcome, l.names.join(",")]),
    [
      ["setup", "ok", ""],
      ["signed", "ok", "web1.example.com"],
      ["signed", "ok", "web2.example.com"],
      ["submitted", "ok", "db1.example.com"],
      ["revoked", "ok", "web1.example.com"],
      ["cleaned", "ok", "web2.example.com"],
      ["signed", "refused", "nobody.example.com"],
    ],
  );
  for (const l of lines.slice(1)) assert.equal(l.who, ME);
  assert.equal(lines[4].serials[0], serialOf(read(cadir, "signed/web1.example.com.pem")));
  assert.match(lines[6].reason, /Could not find certificate request for nobody.example.com/);

  const json = await fleetca(["ca", "audit", "--format", "json", "--name", "web1.example.com", "--cadir", cadir]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(json.stdout.split("\n").map((l) => JSON.parse(l).action), ["signed", "revoked"]);
  const text = await fleetca(["ca", "audit", "--action", "revoked", "--since", "1h", "--cadir", cadir]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /revoked web1\.example\.com serial [0-9A-F]+ by cli:\S+ from local \(cessationOfOperation\)/);
  assert.equal(text.stdout.split("\n").length, 1);
  const future = await fleetca(["ca", "audit", "--since", "2999-01-01", "--cadir", cadir]);
  assert.equal(future.stdout, "");
  assert.match(future.stderr, /No audit records match/);
  const bad = await fleetca(["ca", "audit", "--action", "signd", "--cadir", cadir]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /not one of submitted, signed/);
});

test("generate uses the key settings and the duplicate rule of every other issuing path", async () => {
  const cadir = await newCa();
  const out = tmpDir();
  const config = path.join(out, "fleetca.yaml");
  fs.writeFileSync(config, "key_type: ec\n");
  const g = await fleetca(["ca", "generate", "appliance.example.com", "--out", out, "--cadir", cadir, "--config", config]);
  assert.equal(g.code, 0, g.stderr);
  assert.match(x509Text(fs.readFileSync(path.join(out, "appliance.example.com.pem"), "utf8")), /id-ecPublicKey/);
  // A second generate for a name that has a certificate is refused, and costs no key.
  const again = await fleetca(["ca", "generate", "appliance.example.com", "--out", tmpDir(), "--cadir", cadir, "--config", config]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /appliance.example.com already has a signed certificate/);
  // allow_duplicate_certs lets it through, as it lets a second CSR through.
  fs.writeFileSync(config, "key_type: ec\nallow_duplicate_certs: true\n");
  const dup = await fleetca(["ca", "generate", "appliance.example.com", "--out", tmpDir(), "--cadir", cadir, "--config", config]);
  assert.equal(dup.code, 0, dup.stderr);
  const audit = await fleetca(["ca", "audit", "--format", "json", "--action", "generated", "--cadir", cadir]);
  assert.deepEqual(audit.stdout.split("\n").map((l) => JSON.parse(l).outcome), ["ok", "refused", "ok"]);
});

test("import never reuses a serial the old CA issued, and refuses to guess when nothing says which it issued", async () => {
  const old = await newCa();
  await signed(old, "a.example.com", "b.example.com", "c.example.com", "d.example.com");
  const issued = ["a", "b", "c", "d"].map((n) => parseInt(serialOf(read(old, `signed/${n}.example.com.pem`)), 16));
  const highest = Math.max(...issued);
  // Only the three files, copied elsewhere: nothing tells which serials were used.
  const loose = tmpDir();
  for (const f of ["ca_crt.pem", "ca_key.pem", "ca_crl.pem"]) fs.copyFileSync(path.join(old, f), path.join(loose, f));
  const args = (dir: string, cadir: string) => ["ca", "import", "--cadir", cadir, "--cert-bundle", path.join(dir, "ca_crt.pem"), "--private-key", path.join(dir, "ca_key.pem"), "--crl-chain", path.join(dir, "ca_crl.pem")];
  const refused = await fleetca(args(loose, path.join(tmpDir(), "x")));
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Cannot tell which serials this CA already issued.*--serial-file.*--next-serial/);
  const given = await fleetca([...args(loose, path.join(tmpDir(), "y")), "--next-serial", "25E"]);
  assert.equal(given.code, 0, given.stderr);
  assert.match(given.stdout, /the next serial is 25E/);
  // Straight from the old CA directory, with its serial file gone: the inventory and signed/ say.
  fs.rmSync(path.join(old, "serial"));
  const cadir = path.join(tmpDir(), "imported");
  const r = await fleetca(args(old, cadir));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`the next serial is ${(highest + 1).toString(16).toUpperCase()}\\b`));
  await signed(cadir, "e.example.com");
  assert.ok(!issued.includes(parseInt(serialOf(read(cadir, "signed/e.example.com.pem")), 16)));
  const audit = JSON.parse(read(cadir, "audit.log").trimEnd().split("\n")[0]!);
  assert.equal(audit.action, "imported");
  assert.equal(audit.who, ME);
});
