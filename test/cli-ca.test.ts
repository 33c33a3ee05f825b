/** The `fleetca ca` admin CLI on a real on-disk CA, every artefact checked by openssl (issue 2). */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { crlText, openssl, tmpDir, verifyWithCrl, x509Text } from "./helpers/openssl.js";

async function newCa(...extra: string[]): Promise<string> {
  const cadir = path.join(tmpDir(), "ca");
  const r = await fleetca(["ca", "setup", "--cadir", cadir, "--certname", "ca.example.com", ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return cadir;
}

const read = (cadir: string, f: string) => fs.readFileSync(path.join(cadir, f), "utf8");

function submitFile(cn: string, opts: Parameters<typeof opensslCsr>[1] = {}): string {
  const { csrPem } = opensslCsr(cn, opts);
  const f = path.join(tmpDir(), `${cn}.csr`);
  fs.writeFileSync(f, csrPem);
  return f;
}

function checkWithOpenssl(cadir: string, name: string) {
  const r = verifyWithCrl(read(cadir, "ca_crt.pem"), read(cadir, "ca_crl.pem"), read(cadir, `signed/${name}.pem`));
  assert.ok(r.ok, `openssl verify -crl_check ${name}: ${r.out}`);
  const crl = crlText(read(cadir, "ca_crl.pem"), read(cadir, "ca_crt.pem"));
  assert.match(crl.out, /verify OK/);
}

describe("fleetca ca setup", () => {
  test("creates Puppet's layout with an RSA-4096 CA by default", async () => {
    const cadir = await newCa();
    for (const f of ["ca_crt.pem", "ca_key.pem", "ca_pub.pem", "ca_crl.pem", "infra_crl.pem", "inventory.txt", "infra_inventory.txt", "infra_serials", "serial"]) {
      assert.ok(fs.existsSync(path.join(cadir, f)), `${f} exists`);
    }
    for (const d of ["signed", "requests"]) assert.ok(fs.statSync(path.join(cadir, d)).isDirectory());
    assert.equal(fs.statSync(path.join(cadir, "ca_key.pem")).mode & 0o037, 0, "CA key is 0640 or stricter");
    // PKCS#1, as Puppet writes it (the label is assembled so no key-like block sits in the repository).
    assert.ok(read(cadir, "ca_key.pem").startsWith(`-----BEGIN ${"RSA PRIVATE"} KEY-----`));
    assert.equal(read(cadir, "serial"), "0002");
    assert.match(read(cadir, "inventory.txt"), /^0x0001 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dUTC \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dUTC \/CN=Puppet CA: ca.example.com\n$/);
    const text = x509Text(read(cadir, "ca_crt.pem"));
    assert.match(text, /Public-Key: \(4096 bit\)/);
    assert.match(text, /Subject: CN = Puppet CA: ca.example.com/);
    assert.match(text, /CA:TRUE/);
    assert.match(text, /Certificate Sign, CRL Sign/);
    assert.ok(openssl(["verify", "-CAfile", path.join(cadir, "ca_crt.pem"), path.join(cadir, "ca_crt.pem")]).ok);
    assert.match(crlText(read(cadir, "ca_crl.pem"), read(cadir, "ca_crt.pem")).out, /verify OK/);
  });

  test("ECDSA P-384 on request; a second setup refuses to overwrite", async () => {
    const cadir = await newCa("--key-type", "ec", "--curve", "P-384");
    assert.match(x509Text(read(cadir, "ca_crt.pem")), /NIST CURVE: P-384/);
    const key = read(cadir, "ca_key.pem");
    const again = await fleetca(["ca", "setup", "--cadir", cadir]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);
    assert.equal(read(cadir, "ca_key.pem"), key, "the key is untouched");
  });

  test("a bad setting is refused with a message naming it", async () => {
    const r = await fleetca(["ca", "setup", "--cadir", path.join(tmpDir(), "ca"), "--keylength", "512"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /keylength/);
  });
});

describe("signing, listing, revoking", () => {
  let cadir: string;
  before(async () => {
    cadir = await newCa("--key-type", "ec");
  });

  test("list prints requests as the seed does, alt names included", async () => {
    for (const n of ["boo.fakepie.lan", "muckpie.lan"]) assert.equal((await fleetca(["ca", "submit", submitFile(n), "--cadir", cadir])).code, 0);
    const alt = await fleetca(["ca", "submit", submitFile("has_alts", { san: "DNS:first,DNS:has_alts,DNS:second,DNS:third.example.com" }), "--cadir", cadir]);
    assert.equal(alt.code, 0, alt.stderr);
    const r = await fleetca(["ca", "list", "--cadir", cadir]);
    assert.equal(r.code, 0);
    const lines = r.stdout.split("\n");
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^"boo.fakepie.lan" \(SHA256\) ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(lines[1]!, /^"has_alts" {8}\(SHA256\) [0-9A-F:]{95} \(alt names: "DNS:first", "DNS:has_alts", "DNS:second", "DNS:third.example.com"\)$/);
    assert.match(lines[2]!, /^"muckpie.lan" {5}\(SHA256\) /);
    const fp = openssl(["req", "-outform", "DER"], read(cadir, "requests/muckpie.lan.pem"));
    assert.ok(fp.ok);
  });

  test("sign refuses alt names unless --allow-dns-alt-names, and issues Puppet's profile", async () => {
    const refused = await fleetca(["ca", "sign", "has_alts", "--cadir", cadir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /has_alts.*subject alternative names \(DNS:first, DNS:second, DNS:third.example.com\).*--allow-dns-alt-names/);
    const ok = await fleetca(["ca", "sign", "has_alts", "--allow-dns-alt-names", "--cadir", cadir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "Successfully signed certificate request for has_alts");
    checkWithOpenssl(cadir, "has_alts");
    const t = x509Text(read(cadir, "signed/has_alts.pem"));
    assert.match(t, /DNS:first, DNS:has_alts, DNS:second, DNS:third.example.com/);
    assert.match(t, /Puppet Server Internal Certificate/);
    assert.match(t, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    assert.match(t, /X509v3 Extended Key Usage: critical\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(t, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(t, /DirName:\/CN=Puppet CA: ca.example.com/);
    assert.ok(!fs.existsSync(path.join(cadir, "requests/has_alts.pem")), "the request is gone once signed");
    const days = (new Date(t.match(/Not After : (.*)/)![1]!).getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 1824 && days < 1826, `five years by default, got ${days}`);
  });

  test("sign --all signs every pending request; list --all marks signed and revoked", async () => {
    const all = await fleetca(["ca", "sign", "--all", "--cadir", cadir]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Successfully signed certificate request for boo.fakepie.lan/);
    const rev = await fleetca(["ca", "revoke", "muckpie.lan", "--cadir", cadir]);
    assert.equal(rev.code, 0, rev.stderr);
    assert.equal(rev.stdout, "Certificate for muckpie.lan has been revoked");
    const bad = verifyWithCrl(read(cadir, "ca_crt.pem"), read(cadir, "ca_crl.pem"), read(cadir, "signed/muckpie.lan.pem"));
    assert.equal(bad.ok, false);
    assert.match(bad.out, /certificate revoked/);
    checkWithOpenssl(cadir, "boo.fakepie.lan");
    const list = await fleetca(["ca", "list", "--all", "--cadir", cadir]);
    assert.match(list.stdout, /^\+ "boo.fakepie.lan" +\(SHA256\) /m);
    assert.match(list.stdout, /^- "muckpie.lan" +\(SHA256\) [0-9A-F:]+ \(certificate revoked\)$/m);
    const json = JSON.parse((await fleetca(["ca", "list", "--all", "--format", "json", "--cadir", cadir])).stdout);
    assert.deepEqual(json.revoked.map((e: { name: string }) => e.name), ["muckpie.lan"]);
    assert.equal(json.signed.length, 2);
    const v = await fleetca(["ca", "verify", "muckpie.lan", "boo.fakepie.lan", "--cadir", cadir]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /muckpie.lan: .*revoked/);
    assert.match(v.stdout, /Verified certificate boo.fakepie.lan/);
  });

  test("authorization and foreign extensions are refused at signing", async () => {
    await fleetca(["ca", "submit", submitFile("authx.example.com", { ext: ["1.3.6.1.4.1.34380.1.3.13=ASN1:UTF8String:admin"] }), "--cadir", cadir]);
    const r = await fleetca(["ca", "sign", "authx.example.com", "--cadir", cadir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /contains an authorization extension, which is disallowed/);
    await fleetca(["ca", "submit", submitFile("ku.example.com", { ext: ["keyUsage=digitalSignature"] }), "--cadir", cadir]);
    assert.match((await fleetca(["ca", "sign", "ku.example.com", "--cadir", cadir])).stderr, /Found extensions that are not permitted: 2.5.29.15/);
  });

  test("Puppet extension requests are copied into the certificate", async () => {
    await fleetca(["ca", "submit", submitFile("ext.example.com", { ext: ["1.3.6.1.4.1.34380.1.1.1=ASN1:UTF8String:ED803750-E3C7-44F5-BB08-41A04433FE2E", "1.3.6.1.4.1.34380.1.1.13=ASN1:UTF8String:webserver"] }), "--cadir", cadir]);
    assert.equal((await fleetca(["ca", "sign", "ext.example.com", "--cadir", cadir])).code, 0);
    const t = x509Text(read(cadir, "signed/ext.example.com.pem"));
    assert.match(t, /ED803750-E3C7-44F5-BB08-41A04433FE2E/);
    assert.match(t, /webserver/);
    const p = await fleetca(["ca", "print", "ext.example.com", "--cadir", cadir]);
    assert.match(p.stdout, /pp_role \(1.3.6.1.4.1.34380.1.1.13\):\n\s+webserver/);
  });

  test("many names at once: exit 1 and one stderr line per failed name", async () => {
    const r = await fleetca(["ca", "revoke", "boo.fakepie.lan", "nosuch.example.com", "Upper.example.com", "--cadir", cadir]);
    assert.equal(r.code, 1);
    const errs = r.stderr.split("\n");
    assert.equal(errs.length, 2);
    assert.match(errs[0]!, /nosuch.example.com: Could not find certificate for nosuch.example.com/);
    assert.match(errs[1]!, /Upper.example.com: Certificate names must be lower case/);
    assert.equal(r.stdout, "Certificate for boo.fakepie.lan has been revoked");
  });

  test("clean revokes and removes, so the node can enroll again", async () => {
    const fpBefore = (await fleetca(["ca", "fingerprint", "ext.example.com", "--cadir", cadir])).stdout;
    const cert = read(cadir, "signed/ext.example.com.pem");
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, "c.pem"), cert);
    assert.equal(fpBefore, `ext.example.com (SHA256) ${openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", path.join(dir, "c.pem")]).out.trim().split("=")[1]}`);
    const r = await fleetca(["ca", "clean", "ext.example.com", "--cadir", cadir]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!fs.existsSync(path.join(cadir, "signed/ext.example.com.pem")));
    assert.match(verifyWithCrl(read(cadir, "ca_crt.pem"), read(cadir, "ca_crl.pem"), cert).out, /certificate revoked/);
    const again = await fleetca(["ca", "submit", submitFile("ext.example.com"), "--cadir", cadir]);
    assert.equal(again.code, 0, again.stderr);
  });

  test("generate makes a key and certificate for a system without an agent", async () => {
    const out = tmpDir();
    const r = await fleetca(["ca", "generate", "db1.example.com", "--dns-alt-names", "db1,db.example.com", "--out", out, "--cadir", cadir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(path.join(out, "db1.example.com.key.pem")).mode & 0o077, 0);
    checkWithOpenssl(cadir, "db1.example.com");
    assert.match(x509Text(read(cadir, "signed/db1.example.com.pem")), /DNS:db1, DNS:db.example.com, DNS:db1.example.com/);
    const mod = openssl(["pkey", "-pubout", "-in", path.join(out, "db1.example.com.key.pem")]).out;
    assert.equal(mod, openssl(["x509", "-pubkey", "-noout", "-in", path.join(out, "db1.example.com.pem")]).out);
  });

  test("invalid names are refused before anything is written", async () => {
    const before = fs.readdirSync(path.join(cadir, "requests")).sort();
    const cases: [string, RegExp][] = [
      ["../x", /must not start with '.'|only lowercase/],
      ["a/b", /only lowercase letters/],
      ["", /empty/],
      ["UPPER.example.com", /lower case/],
      ["*.example.com", /wildcard/],
      ["trailing-", /hostname format is invalid/],
      ["x".repeat(300), /longer than 253/],
      ["nöde.example.com", /only ASCII/],
    ];
    for (const [name, why] of cases) {
      const r = await fleetca(["ca", "submit", submitFile("valid.example.com"), "--name", name, "--cadir", cadir]);
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, why, name);
    }
    assert.deepEqual(fs.readdirSync(path.join(cadir, "requests")).sort(), before);
  });
});
