/**
 * `fleetca ca regenerate` (issue 11): `--dry-run` prints the whole plan and changes nothing
 * (every file of the CA directory and the server's ssldir hashed, bytes and modes, before and
 * after); `--format pkcs12` writes each infrastructure host's key, certificate and CA into a
 * PKCS#12 file that `openssl pkcs12` reads with the passphrase given, or with the random one
 * written beside it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { snapshot } from "./helpers/tree-snapshot.js";

async function ok(args: string[]) {
  const r = await fleetca(args, tmpDir());
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r;
}

/** A CA with 3 certificates (one revoked), a pending request, and the server's ssldir beside it. */
async function smallCa() {
  const root = tmpDir();
  const cadir = path.join(root, "ca");
  await ok(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com"]);
  for (const n of ["a.example.com", "b.example.com", "c.example.com"]) await ok(["ca", "generate", n, "--cadir", cadir, "--key-type", "ec"]);
  await ok(["ca", "revoke", "c.example.com", "--cadir", cadir]);
  const csr = path.join(root, "pending.csr");
  fs.writeFileSync(csr, opensslCsr("pending.example.com", { dir: root }).csrPem);
  await ok(["ca", "submit", csr, "--cadir", cadir]);
  const ssldir = path.join(root, "ssl");
  fs.mkdirSync(path.join(ssldir, "private_keys"), { recursive: true, mode: 0o750 });
  fs.mkdirSync(path.join(ssldir, "certs"), { recursive: true });
  fs.writeFileSync(path.join(ssldir, "private_keys", "ca.example.com.pem"), "server key\n", { mode: 0o600 });
  fs.writeFileSync(path.join(ssldir, "certs", "ca.example.com.pem"), "server cert\n", { mode: 0o644 });
  return { root, cadir, ssldir };
}

test("regenerate --dry-run prints counts, paths and the backup it would take, and changes no byte or mode of the CA directory or the ssldir", async () => {
  const { root, cadir, ssldir } = await smallCa();
  // The list index (fleetca_index.jsonl) is a cache: the first reader after the directories'
  // last change has settled (2 s, store/file/index-cache.ts) notes it there. Let that happen
  // first, so the comparison below holds every byte, the index included.
  await new Promise((r) => setTimeout(r, 2100));
  const list = await ok(["ca", "list", "--all", "--cadir", cadir]);
  // Every node holding a certificate, revoked or not, is one to track.
  const signed = list.stdout.split("\n").filter((l) => /^[+-] /.test(l)).length;
  const before = { ca: snapshot(cadir), ssl: snapshot(ssldir), root: fs.readdirSync(root).sort() };
  const out = path.join(root, "infra");
  const backup = path.join(root, "before.fleetca");
  const common = ["--cadir", cadir, "--certname", "ca.example.com", "--infra", "puppetdb.example.com,console.example.com", "--out", out, "--backup-out", backup, "--format", "ssldir,pkcs12"];
  const dry = await ok(["ca", "regenerate", "--dry-run", ...common]);
  const text = dry.stdout;
  assert.match(text, new RegExp(`back up the CA, the server's credentials and the audit log to ${backup}`));
  assert.match(text, /Backup would be NOT encrypted/);
  assert.match(text, new RegExp(`remove the old CA's ${signed} certificate\\(s\\) and 1 pending request\\(s\\)`));
  assert.match(text, new RegExp(`track ${signed} node\\(s\\)`));
  assert.match(text, new RegExp(`issue the server's certificate for ca\\.example\\.com into ${ssldir}`));
  assert.match(text, new RegExp(`infrastructure credentials for puppetdb\\.example\\.com, console\\.example\\.com under ${out}`));
  assert.match(text, /Credential layouts: ssldir, pkcs12/);
  assert.match(text, /Dry run: nothing was changed\./);

  const json = JSON.parse((await ok(["ca", "regenerate", "--dry-run", "--format", "json", "--cadir", cadir, "--infra", "db.example.com", "--backup-out", backup])).stdout) as {
    dryRun: boolean; nodes: string[]; infra: string[]; backup: string; ssldir: string; formats: string[];
  };
  assert.equal(json.dryRun, true);
  assert.equal(json.nodes.length, signed);
  assert.deepEqual([json.infra, json.backup, json.ssldir, json.formats], [["db.example.com"], backup, ssldir, ["ssldir", "puppetdb"]]);

  assert.deepEqual(snapshot(cadir), before.ca, "every file, byte and mode of the CA directory");
  assert.deepEqual(snapshot(ssldir), before.ssl, "and of the ssldir");
  assert.deepEqual(fs.readdirSync(root).sort(), before.root, "no backup, no credentials directory");

  // Step 1 of the seed: no verified backup, no regeneration. A backup that cannot be written changes nothing.
  for (const where of [path.join(root, "missing", "b.fleetca"), path.join(cadir, "inside.fleetca")]) {
    const refused = await fleetca(["ca", "regenerate", ...common.filter((_, i) => common[i - 1] !== "--backup-out" && common[i] !== "--backup-out"), "--backup-out", where], tmpDir());
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /the backup could not be taken or verified, so nothing was changed/);
  }
  fs.writeFileSync(backup, "someone else's file\n");
  const taken = await fleetca(["ca", "regenerate", ...common], tmpDir());
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /exists: choose another --out/);
  fs.rmSync(backup);
  assert.deepEqual(snapshot(cadir), before.ca, "refused regenerations changed no byte or mode, the audit log included");
  assert.deepEqual(snapshot(ssldir), before.ssl);
  assert.deepEqual(fs.readdirSync(root).sort(), before.root);
});

test("regenerate --format pkcs12: NAME.p12 (0600) with key, certificate and CA, read by openssl pkcs12 with the passphrase file, or the random one written beside it", async () => {
  const { root, cadir } = await smallCa();
  const pass = path.join(root, "p12pass");
  fs.writeFileSync(pass, "keystore passphrase\n", { mode: 0o600 });
  const out = path.join(root, "infra");
  const r = await ok([
    "ca", "regenerate", "--cadir", cadir, "--certname", "ca.example.com", "--infra", "puppetdb.example.com", "--out", out,
    "--backup-out", path.join(root, "b.fleetca"), "--format", "pkcs12,puppetdb", "--pkcs12-passphrase-file", pass,
  ]);
  const p12 = path.join(out, "puppetdb.example.com", "pkcs12", "puppetdb.example.com.p12");
  assert.match(r.stdout, new RegExp(`Credentials for puppetdb\\.example\\.com: ${p12}, `));
  assert.match(r.stdout, /a service reading a keystore: .*puppetdb\.example\.com\.p12/);
  assert.equal(fs.statSync(p12).mode & 0o777, 0o600);
  assert.ok(!fs.existsSync(`${p12}.pass`), "the operator's passphrase is not copied anywhere");

  const info = openssl(["pkcs12", "-info", "-in", p12, "-passin", `file:${pass}`, "-nokeys"]);
  assert.ok(info.ok, info.out);
  assert.match(info.out, /MAC: sha256/);
  assert.match(info.out, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
  assert.match(info.out, /friendlyName: puppetdb\.example\.com/);
  // The certificates inside are the new CA's and the host's, as the PEM layout has them.
  const certs = info.out.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
  assert.equal(certs.length, 2);
  const pdb = path.join(out, "puppetdb.example.com", "puppetdb");
  assert.equal(certs[0], fs.readFileSync(path.join(pdb, "public.pem"), "utf8"));
  assert.equal(certs[1], fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8"));
  // The key inside is the host's.
  const keyOut = path.join(root, "p12key.pem");
  assert.ok(openssl(["pkcs12", "-in", p12, "-passin", `file:${pass}`, "-nocerts", "-nodes", "-out", keyOut]).ok);
  assert.equal(openssl(["pkey", "-in", keyOut, "-pubout"]).out, openssl(["pkey", "-in", path.join(pdb, "private.pem"), "-pubout"]).out);
  const wrong = openssl(["pkcs12", "-in", p12, "-passin", "pass:not it", "-nokeys"]);
  assert.ok(!wrong.ok);
  assert.match(wrong.out, /Mac verify error/);

  // Without a passphrase file, each host gets a random one, in a 0600 file beside its keystore (the CA regenerated again).
  const out2 = path.join(root, "infra2");
  const r2 = await ok(["ca", "regenerate", "--cadir", cadir, "--certname", "ca.example.com", "--infra", "console.example.com", "--out", out2, "--backup-out", path.join(root, "b2.fleetca"), "--format", "pkcs12"]);
  const p12b = path.join(out2, "console.example.com", "pkcs12", "console.example.com.p12");
  assert.match(r2.stdout, /its passphrase: .*console\.example\.com\.p12\.pass, 0600/);
  assert.equal(fs.statSync(`${p12b}.pass`).mode & 0o777, 0o600);
  assert.ok(openssl(["pkcs12", "-in", p12b, "-passin", `file:${p12b}.pass`, "-nokeys"]).ok);
  // Java reads it too, when a JDK is installed (PuppetDB and the console run on one).
  const keytool = spawnSync("keytool", ["-list", "-storetype", "PKCS12", "-keystore", p12b, "-storepass", fs.readFileSync(`${p12b}.pass`, "utf8").trim()], { encoding: "utf8" });
  if (!keytool.error) {
    assert.equal(keytool.status, 0, keytool.stdout + keytool.stderr);
    assert.match(keytool.stdout, /console\.example\.com, .*PrivateKeyEntry/);
  }
});
