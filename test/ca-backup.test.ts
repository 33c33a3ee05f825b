/**
 * `fleetca ca backup` and `fleetca ca restore` (issue 11): a verified archive of the whole CA
 * and the server's credentials, put back byte for byte with modes; damaged archives and wrong
 * passphrases refused with nothing changed; the PostgreSQL store the same way.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fleetca } from "./helpers/cli.js";
import { tmpDir } from "./helpers/openssl.js";
import { pgUnavailable, startPg, type PgServer } from "./helpers/pg-server.js";
import { snapshot } from "./helpers/tree-snapshot.js";

/** Each in a scratch directory: `ca generate` writes the key and certificate into the working directory. */
async function ok(args: string[]): Promise<string> {
  const r = await fleetca(args, tmpDir());
  assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A CA with certificates, a revocation, and a server ssldir beside it (where `fleetca server` keeps its own). */
async function caWithServer(): Promise<{ root: string; cadir: string; ssldir: string }> {
  const root = tmpDir();
  const cadir = path.join(root, "ca");
  await ok(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com"]);
  for (const n of ["a.example.com", "b.example.com"]) await ok(["ca", "generate", n, "--cadir", cadir, "--key-type", "ec"]);
  await ok(["ca", "revoke", "b.example.com", "--cadir", cadir]);
  const ssldir = path.join(root, "ssl");
  fs.mkdirSync(path.join(ssldir, "private_keys"), { recursive: true, mode: 0o750 });
  fs.mkdirSync(path.join(ssldir, "certs"), { recursive: true });
  fs.writeFileSync(path.join(ssldir, "private_keys", "ca.example.com.pem"), "server key\n", { mode: 0o600 });
  fs.writeFileSync(path.join(ssldir, "certs", "ca.example.com.pem"), "server cert\n", { mode: 0o644 });
  fs.chmodSync(path.join(ssldir, "private_keys"), 0o750);
  return { root, cadir, ssldir };
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

test("backup: a 0600 archive, read back and verified, its digest printed; without a passphrase the output says the key is in clear", async () => {
  const { root, cadir } = await caWithServer();
  const out = path.join(root, "b.fleetca");
  const text = await ok(["ca", "backup", "--cadir", cadir, "--out", out]);
  assert.equal(fs.statSync(out).mode & 0o777, 0o600);
  assert.match(text, new RegExp(`Backup written and verified: ${out}`));
  assert.match(text, new RegExp(`SHA256 ${sha256(out)}`));
  assert.match(text, /NOT ENCRYPTED: the CA private key is in this file in clear/);
  const again = await fleetca(["ca", "backup", "--cadir", cadir, "--out", out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists: choose another --out/);
  const inside = await fleetca(["ca", "backup", "--cadir", cadir, "--out", path.join(cadir, "x.fleetca")]);
  assert.equal(inside.code, 1);
  assert.match(inside.stderr, /inside the CA directory/);
});

test("restore puts every file of the CA directory and the ssldir back, same bytes and modes, after backing up the current state", async () => {
  const { root, cadir, ssldir } = await caWithServer();
  const pass = path.join(root, "pass");
  fs.writeFileSync(pass, "correct horse battery staple\n");
  const archive = path.join(root, "enc.fleetca");
  const json = JSON.parse(await ok(["ca", "backup", "--cadir", cadir, "--out", archive, "--passphrase-file", pass, "--format", "json"])) as { encrypted: boolean; sha256: string };
  assert.equal(json.encrypted, true);
  assert.equal(json.sha256, sha256(archive));
  assert.ok(!fs.readFileSync(archive).includes(Buffer.from("PRIVATE KEY")), "no key material in clear in an encrypted archive");
  const caBefore = snapshot(cadir);
  const sslBefore = snapshot(ssldir);

  // Change everything: a new certificate, a revoke, a file mode, a server file gone.
  await ok(["ca", "generate", "c.example.com", "--cadir", cadir, "--key-type", "ec"]);
  await ok(["ca", "revoke", "a.example.com", "--cadir", cadir]);
  fs.chmodSync(path.join(cadir, "ca_key.pem"), 0o400);
  fs.rmSync(path.join(ssldir, "certs", "ca.example.com.pem"));
  const caChanged = snapshot(cadir);
  assert.notDeepEqual(caChanged, caBefore);

  // A wrong passphrase, a damaged archive, a file that is no archive: refused, nothing changed.
  const wrong = path.join(root, "wrong");
  fs.writeFileSync(wrong, "tr0ub4dor&3\n");
  const w = await fleetca(["ca", "restore", archive, "--cadir", cadir, "--passphrase-file", wrong]);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /passphrase is wrong/);
  const damaged = path.join(root, "damaged.fleetca");
  const bytes = fs.readFileSync(archive);
  bytes[bytes.length - 100]! ^= 0x01;
  fs.writeFileSync(damaged, bytes);
  const d = await fleetca(["ca", "restore", damaged, "--cadir", cadir, "--passphrase-file", pass]);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /damaged or incomplete .*nothing was changed/);
  const truncated = path.join(root, "truncated.fleetca");
  fs.writeFileSync(truncated, fs.readFileSync(archive).subarray(0, Math.floor(bytes.length * 0.7)));
  const tr = await fleetca(["ca", "restore", truncated, "--cadir", cadir, "--passphrase-file", pass]);
  assert.equal(tr.code, 1);
  assert.match(tr.stderr, /damaged or incomplete/);
  const none = await fleetca(["ca", "restore", path.join(cadir, "ca_crt.pem"), "--cadir", cadir]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /not a fleetca archive/);
  // The list index is a cache any reader may bring up to date (store/file/index-cache.ts): not a change.
  const noIndex = (snap: Record<string, string>) => Object.fromEntries(Object.entries(snap).filter(([k]) => k !== "fleetca_index.jsonl"));
  assert.deepEqual(noIndex(snapshot(cadir)), noIndex(caChanged), "refused restores changed nothing");
  assert.deepEqual(fs.readdirSync(root).filter((f) => f.startsWith("fleetca-pre-restore")), [], "and took no backup");

  const r = await ok(["ca", "restore", archive, "--cadir", cadir, "--passphrase-file", pass]);
  assert.match(r, /The state before the restore was backed up and verified: (\S+)/);
  assert.deepEqual(snapshot(cadir), caBefore, "every file, byte and mode of the CA directory");
  assert.deepEqual(snapshot(ssldir), sslBefore, "and of the server's ssldir");

  // The pre-restore backup holds the changed state: restoring it brings the change back.
  const pre = /backed up and verified: (\S+)/.exec(r)![1]!;
  await ok(["ca", "restore", pre, "--cadir", cadir, "--passphrase-file", pass]);
  assert.equal(snapshot(cadir)["signed/c.example.com.pem"], caChanged["signed/c.example.com.pem"]);
  assert.equal(snapshot(cadir)["ca_key.pem"], caChanged["ca_key.pem"], "mode 0400 included");
  // Restoring the pre-restore backup took a backup of its own, beside the first, even within the same second.
  assert.equal(fs.readdirSync(root).filter((f) => f.startsWith("fleetca-pre-restore")).length, 2);
});

describe("backup and restore on the PostgreSQL store", { skip: pgUnavailable() }, () => {
  let server: PgServer;
  before(async () => {
    server = await startPg();
  });
  after(async () => server?.stop());

  test("every row comes back: listing, revocations and audit trail as they were", async () => {
    const root = tmpDir();
    const cadir = path.join(root, "ca");
    const s = ["--store", server.url, "--cadir", cadir];
    await ok(["ca", "setup", ...s, "--key-type", "ec", "--certname", "ca.example.com"]);
    await ok(["ca", "generate", "p1.example.com", ...s, "--key-type", "ec"]);
    await ok(["ca", "revoke", "p1.example.com", ...s]);
    const archive = path.join(root, "pg.fleetca");
    await ok(["ca", "backup", ...s, "--out", archive]);
    const listBefore = await ok(["ca", "list", "--all", ...s]);
    const auditBefore = await ok(["ca", "audit", ...s, "--format", "json"]);
    await ok(["ca", "generate", "p2.example.com", ...s, "--key-type", "ec"]);
    assert.notEqual(await ok(["ca", "list", "--all", ...s]), listBefore);
    await ok(["ca", "restore", archive, ...s]);
    assert.equal(await ok(["ca", "list", "--all", ...s]), listBefore);
    assert.equal(await ok(["ca", "audit", ...s, "--format", "json"]), auditBefore);
    // The restored database keeps working: serials continue, the inventory stays append-only.
    await ok(["ca", "generate", "p3.example.com", ...s, "--key-type", "ec"]);
    const fileArchive = await fleetca(["ca", "restore", archive, "--cadir", cadir]);
    assert.equal(fileArchive.code, 1);
    assert.match(fileArchive.stderr, /postgres store .* cannot be restored into a file store/);
  });
});
