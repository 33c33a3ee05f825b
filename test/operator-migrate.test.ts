/**
 * `fleetca ca migrate`: a file CA into the project's real PostgreSQL test server, verified (counts, serials, CRL),
 * and back out of PostgreSQL into a new Puppet-layout directory that openssl and `ca list` read alike; the same for
 * a CA taken over with `ca import` (an intermediate under an outside root, as the import tests make it: a
 * two-certificate bundle and a two-CRL chain).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import postgres from "pg";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { makeIntermediate, makeRoot } from "./helpers/openssl-ca.js";
import { pgUnavailable, startPg, type PgServer } from "./helpers/pg-server.js";

const skip = pgUnavailable();
const dir = tmpDir("fleetca-migrate-");
const cadir = path.join(dir, "ca");
let pg: PgServer | undefined;

const ok = async (args: string[]) => {
  const r = await fleetca(args);
  assert.equal(r.code, 0, `fleetca ${args.join(" ")}: ${r.stderr}`);
  return r;
};

before(async () => {
  if (skip) return;
  pg = await startPg();
  await ok(["ca", "setup", "--cadir", cadir, "--key-type", "ec"]);
  for (const n of ["a.test", "b.test", "c.test"]) await ok(["ca", "generate", n, "--cadir", cadir, "--key-type", "ec", "--out", path.join(dir, "keys")]);
  await ok(["ca", "revoke", "b.test", "--cadir", cadir]);
  await ok(["ca", "clean", "c.test", "--cadir", cadir]);
  const csr = opensslCsr("pending.test", { dir });
  fs.writeFileSync(path.join(dir, "pending.csr"), csr.csrPem);
  await ok(["ca", "submit", path.join(dir, "pending.csr"), "--cadir", cadir]);
});
after(async () => {
  await pg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("fleetca ca migrate", { skip }, () => {
  test("--to postgres://: copies the file CA, verifies counts, serials and CRL, and the copy serves ca list as the files did", async () => {
    const r = await ok(["ca", "migrate", "--cadir", cadir, "--to", pg!.url]);
    assert.match(r.stdout, /Source: 1 request\(s\), 2 certificate\(s\), 4 inventory line\(s\), 2 revocation\(s\)/);
    const source = /Source: (.*)/.exec(r.stdout)![1];
    assert.equal(/Copy: {3}(.*)/.exec(r.stdout)![1], source);
    assert.match(r.stdout, /Verified: same CA certificate, CRL/);
    const fromFiles = await ok(["ca", "list", "--all", "--cadir", cadir]);
    const fromPg = await ok(["ca", "list", "--all", "--store", pg!.url]);
    assert.equal(fromPg.stdout, fromFiles.stdout);
    // A second migrate into the same database is refused: never two CAs, never a replaced key.
    const again = await fleetca(["ca", "migrate", "--cadir", cadir, "--to", pg!.url]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already holds a CA/);
  });

  test("--to DIR: PostgreSQL back into Puppet's layout; openssl verifies with its files, and the serial goes on", async () => {
    const back = path.join(dir, "back");
    const r = await ok(["ca", "migrate", "--store", pg!.url, "--to", back]);
    assert.match(r.stdout, /Verified/);
    for (const f of ["ca_crt.pem", "ca_key.pem", "ca_crl.pem", "serial", "inventory.txt", "signed/a.test.pem", "requests/pending.test.pem"]) assert.ok(fs.existsSync(path.join(back, f)), f);
    assert.equal(fs.readFileSync(path.join(back, "inventory.txt"), "utf8"), fs.readFileSync(path.join(cadir, "inventory.txt"), "utf8"));
    const verify = (name: string) =>
      openssl(["verify", "-crl_check", "-CAfile", path.join(back, "ca_crt.pem"), "-CRLfile", path.join(back, "ca_crl.pem"), path.join(back, "signed", `${name}.pem`)]);
    assert.ok(verify("a.test").ok, verify("a.test").out);
    assert.match(verify("b.test").out, /certificate revoked/);
    assert.equal((await ok(["ca", "list", "--all", "--cadir", back])).stdout, (await ok(["ca", "list", "--all", "--cadir", cadir])).stdout);
    const signed = await ok(["ca", "sign", "pending.test", "--cadir", back]);
    assert.match(signed.stdout, /Successfully signed/);
    const serial = openssl(["x509", "-noout", "-serial", "-in", path.join(back, "signed/pending.test.pem")]).out.trim();
    assert.equal(serial, "serial=05", "the copy continues after the source's serials (CA 1, a b c 2-4): none reused");
    const notEmpty = await fleetca(["ca", "migrate", "--cadir", cadir, "--to", back]);
    assert.notEqual(notEmpty.code, 0);
    assert.match(notEmpty.stderr, /is not empty/);
  });
});

describe("fleetca ca migrate of a CA imported with ca import", { skip }, () => {
  test("an intermediate under an outside root: into PostgreSQL and back, counts, serials and both CRLs kept", async () => {
    const ext = path.join(dir, "outside");
    const root = makeRoot(ext, "Outside Root CA");
    const inter = makeIntermediate(ext, root, "Puppet CA: imported.test", 2);
    const bundle = path.join(ext, "bundle.pem");
    fs.writeFileSync(bundle, fs.readFileSync(inter.certFile, "utf8") + fs.readFileSync(root.certFile, "utf8"));
    const chain = path.join(ext, "crl-chain.pem");
    fs.writeFileSync(chain, inter.gencrl(path.join(ext, "inter-crl.pem")) + root.gencrl(path.join(ext, "root-crl.pem")));
    const imported = path.join(dir, "imported");
    await ok(["ca", "import", "--cadir", imported, "--cert-bundle", bundle, "--private-key", inter.keyFile, "--crl-chain", chain, "--next-serial", "1A"]);
    for (const n of ["x.test", "y.test", "z.test"]) await ok(["ca", "generate", n, "--cadir", imported, "--key-type", "ec", "--out", path.join(dir, "imported-keys")]);
    await ok(["ca", "revoke", "y.test", "--cadir", imported]);
    const csr = opensslCsr("waiting.test", { dir });
    fs.writeFileSync(path.join(dir, "waiting.csr"), csr.csrPem);
    await ok(["ca", "submit", path.join(dir, "waiting.csr"), "--cadir", imported]);

    // Its own database on the same server: the other test's CA is in the first one.
    const sql = new postgres.Client({ connectionString: pg!.url });
    await sql.connect();
    await sql.query("CREATE DATABASE fleetca_imported");
    await sql.end();
    const url = pg!.url.replace(/\/fleetca$/, "/fleetca_imported");

    const r = await ok(["ca", "migrate", "--cadir", imported, "--to", url]);
    assert.match(r.stdout, /Source: 1 request\(s\), 3 certificate\(s\), 4 inventory line\(s\), 1 revocation\(s\), next serial 1D/);
    assert.equal(/Copy: {3}(.*)/.exec(r.stdout)![1], /Source: (.*)/.exec(r.stdout)![1]);
    assert.match(r.stdout, /Verified: same CA certificate, CRL/);
    const listFiles = (await ok(["ca", "list", "--all", "--cadir", imported])).stdout;
    assert.equal((await ok(["ca", "list", "--all", "--store", url])).stdout, listFiles);
    assert.match(listFiles, /^\+ "x\.test" /m);
    assert.match(listFiles, /^- "y\.test" /m);
    // Served from PostgreSQL: the whole chain and both CRLs, as the files had them.
    const fp = async (args: string[]) => (await ok(["ca", "fingerprint", "ca", ...args])).stdout;
    assert.equal(await fp(["--store", url]), await fp(["--cadir", imported]));

    const back = path.join(dir, "imported-back");
    await ok(["ca", "migrate", "--store", url, "--to", back]);
    for (const f of ["ca_crt.pem", "ca_crl.pem", "inventory.txt", "serial"]) {
      assert.equal(fs.readFileSync(path.join(back, f), "utf8"), fs.readFileSync(path.join(imported, f), "utf8"), `${f} round-trips through PostgreSQL`);
    }
    assert.equal(fs.readFileSync(path.join(back, "ca_crt.pem"), "utf8").match(/BEGIN CERTIFICATE/g)?.length, 2, "the bundle keeps the outside root");
    assert.equal(fs.readFileSync(path.join(back, "ca_crl.pem"), "utf8").match(/BEGIN X509 CRL/g)?.length, 2, "the CRL chain keeps the root's CRL");
    const serials = (cadir: string) => fs.readFileSync(path.join(cadir, "inventory.txt"), "utf8").trim().split("\n").map((l) => l.split(" ")[0]);
    assert.deepEqual(serials(back), ["0x0002", "0x001A", "0x001B", "0x001C"], "the intermediate's own line, then the certificates it signed");
    const verify = (name: string) =>
      openssl(["verify", "-crl_check_all", "-CAfile", path.join(back, "ca_crt.pem"), "-CRLfile", path.join(back, "ca_crl.pem"), path.join(back, "signed", `${name}.pem`)]);
    assert.ok(verify("x.test").ok, verify("x.test").out);
    assert.match(verify("y.test").out, /certificate revoked/);
    assert.equal((await ok(["ca", "list", "--all", "--cadir", back])).stdout, listFiles);
    await ok(["ca", "sign", "waiting.test", "--cadir", back]);
    assert.match(fs.readFileSync(path.join(back, "inventory.txt"), "utf8"), /^0x001D .*\/CN=waiting\.test$/m, "serials go on past the imported CA's");
  });
});
