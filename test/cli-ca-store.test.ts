/** The CA store under concurrency, import, and files written by other Puppet tools (issue 2). */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fleetca, fleetcaProcess, opensslCsr } from "./helpers/cli.js";
import { tmpDir, verifyWithCrl } from "./helpers/openssl.js";

const read = (cadir: string, f: string) => fs.readFileSync(path.join(cadir, f), "utf8");

async function newCa(): Promise<string> {
  const cadir = path.join(tmpDir(), "ca");
  const r = await fleetca(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com"]);
  assert.equal(r.code, 0, r.stderr);
  return cadir;
}

function writeRequests(cadir: string, names: string[]): void {
  for (const n of names) fs.writeFileSync(path.join(cadir, "requests", `${n}.pem`), opensslCsr(n).csrPem);
}

test("two `fleetca ca sign` processes at once issue distinct serials and keep inventory.txt consistent", async () => {
  const cadir = await newCa();
  const a = Array.from({ length: 12 }, (_, i) => `a${i}.example.com`);
  const b = Array.from({ length: 12 }, (_, i) => `b${i}.example.com`);
  writeRequests(cadir, [...a, ...b]); // dropped in as another Puppet tool would
  const [ra, rb] = await Promise.all([fleetcaProcess(["ca", "sign", ...a, "--cadir", cadir]), fleetcaProcess(["ca", "sign", ...b, "--cadir", cadir])]);
  assert.equal(ra.code, 0, ra.stderr);
  assert.equal(rb.code, 0, rb.stderr);
  const lines = read(cadir, "inventory.txt").trimEnd().split("\n");
  assert.equal(lines.length, 1 + 24, "one inventory line per certificate, plus the CA's");
  const serials = lines.map((l) => l.split(" ")[0]);
  assert.equal(new Set(serials).size, serials.length, "no serial repeats");
  for (const l of lines) assert.match(l, /^0x[0-9A-F]{4,} \S+UTC \S+UTC \/CN=.+$/);
  assert.equal(parseInt(read(cadir, "serial"), 16), 26, "the serial file points past every issued serial");
  for (const n of [...a, ...b]) assert.ok(verifyWithCrl(read(cadir, "ca_crt.pem"), read(cadir, "ca_crl.pem"), read(cadir, `signed/${n}.pem`)).ok);
});

test("the listing reflects requests and certificates written into the directory by other tools", async () => {
  const cadir = await newCa();
  writeRequests(cadir, ["foreign.example.com"]);
  let list = await fleetca(["ca", "list", "--cadir", cadir]);
  assert.match(list.stdout, /^"foreign.example.com" \(SHA256\) /);
  assert.equal((await fleetca(["ca", "sign", "foreign.example.com", "--cadir", cadir])).code, 0);
  // Another tool copies a certificate in under a new name, and removes one.
  fs.copyFileSync(path.join(cadir, "signed/foreign.example.com.pem"), path.join(cadir, "signed/copied.example.com.pem"));
  list = await fleetca(["ca", "list", "--all", "--cadir", cadir]);
  assert.match(list.stdout, /^\+ "copied.example.com" +\(SHA256\)/m);
  fs.rmSync(path.join(cadir, "signed/copied.example.com.pem"));
  list = await fleetca(["ca", "list", "--all", "--cadir", cadir]);
  assert.doesNotMatch(list.stdout, /copied/);
});

test("import takes over an existing CA and serials continue", async () => {
  const old = await newCa();
  writeRequests(old, ["n1.example.com", "n2.example.com"]);
  await fleetca(["ca", "sign", "--all", "--cadir", old]);
  await fleetca(["ca", "revoke", "n1.example.com", "--cadir", old]);
  const cadir = path.join(tmpDir(), "imported");
  const r = await fleetca(["ca", "import", "--cadir", cadir, "--cert-bundle", path.join(old, "ca_crt.pem"), "--private-key", path.join(old, "ca_key.pem"), "--crl-chain", path.join(old, "ca_crl.pem"), "--serial-file", path.join(old, "serial")]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /the next serial is 4/);
  writeRequests(cadir, ["n3.example.com"]);
  assert.equal((await fleetca(["ca", "sign", "n3.example.com", "--cadir", cadir])).code, 0);
  assert.match(read(cadir, "inventory.txt"), /^0x0004 .* \/CN=n3.example.com$/m);
  const ok = verifyWithCrl(read(old, "ca_crt.pem"), read(cadir, "ca_crl.pem"), read(cadir, "signed/n3.example.com.pem"));
  assert.ok(ok.ok, ok.out);
  const wrongKey = await newCa();
  const bad = await fleetca(["ca", "import", "--cadir", path.join(tmpDir(), "x"), "--cert-bundle", path.join(old, "ca_crt.pem"), "--private-key", path.join(wrongKey, "ca_key.pem"), "--crl-chain", path.join(old, "ca_crl.pem")]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /private key does not match/);
});
