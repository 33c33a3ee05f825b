/**
 * `fleetca ca check [--repair] [--format json]` on what crashes leave behind, made by hand
 * here (the crash trials, scripts/crash-trials.ts, make them by SIGKILL), and recovery at
 * open: a request whose certificate was stored before a crash is not signed again.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { PostgresStore } from "../src/store/postgres/index.js";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { tmpDir } from "./helpers/openssl.js";
import { pgUnavailable, startPg, type PgServer } from "./helpers/pg-server.js";

const read = (cadir: string, f: string) => fs.readFileSync(path.join(cadir, f), "utf8");

async function caWith(names: string[]): Promise<string> {
  const cadir = path.join(tmpDir(), "ca");
  assert.equal((await fleetca(["ca", "setup", "--cadir", cadir, "--key-type", "ec", "--certname", "ca.example.com"])).code, 0);
  for (const n of names) fs.writeFileSync(path.join(cadir, "requests", `${n}.pem`), opensslCsr(n).csrPem);
  if (names.length > 0) assert.equal((await fleetca(["ca", "sign", "--all", "--cadir", cadir])).code, 0);
  return cadir;
}

async function check(cadir: string, ...more: string[]) {
  const r = await fleetca(["ca", "check", "--cadir", cadir, "--format", "json", ...more]);
  return { code: r.code, report: JSON.parse(r.stdout) as { ok: boolean; results: { check: string; problems: string[]; repaired: string[]; remaining: string[] }[] } };
}
const problemsOf = (r: Awaited<ReturnType<typeof check>>["report"], name: string) => r.results.find((x) => x.check === name)!.problems;

describe("ca check on the file store", () => {
  test("a consistent CA: exit 0, every check listed, the text form says so", async () => {
    const cadir = await caWith(["a.example.com", "b.example.com"]);
    await fleetca(["ca", "revoke", "a.example.com", "--cadir", cadir]);
    const { code, report } = await check(cadir);
    assert.equal(code, 0);
    assert.equal(report.ok, true);
    assert.deepEqual(report.results.map((r) => r.check), ["serial", "serials", "inventory", "signatures", "crl", "requests", "leftovers"]);
    const text = await fleetca(["ca", "check", "--cadir", cadir]);
    assert.match(text.stdout, /is consistent \(2 certificates, 0 requests, 3 inventory lines, 1 revocations\)/);
  });

  test("a request left beside the certificate issued from it: reported, repaired, and recovery at open keeps sign --all from signing it again", async () => {
    const cadir = await caWith(["other.example.com"]);
    const first = opensslCsr("twice.example.com");
    fs.writeFileSync(path.join(cadir, "requests/twice.example.com.pem"), first.csrPem);
    assert.equal((await fleetca(["ca", "sign", "twice.example.com", "--cadir", cadir])).code, 0);
    // The state a crash between storing the certificate and removing the request leaves.
    fs.writeFileSync(path.join(cadir, "requests/twice.example.com.pem"), first.csrPem);
    const before = read(cadir, "inventory.txt");
    const found = await check(cadir);
    assert.equal(found.code, 1);
    assert.match(problemsOf(found.report, "requests").join(), /twice\.example\.com holds both a request and the certificate issued from it/);
    // Any other command recovers first: sign --all has nothing to sign.
    const signAll = await fleetca(["ca", "sign", "--all", "--cadir", cadir]);
    assert.equal(read(cadir, "inventory.txt"), before, `no second certificate for one key: ${signAll.stdout}${signAll.stderr}`);
    assert.equal(fs.existsSync(path.join(cadir, "requests/twice.example.com.pem")), false);
    assert.equal((await check(cadir)).code, 0);
  });

  test("serial behind, a missing inventory line, a recorded revocation missing from the CRL and a stale temporary file: --repair fixes them all", async () => {
    const cadir = await caWith(["a.example.com", "b.example.com", "c.example.com"]);
    const oldCrl = read(cadir, "ca_crl.pem");
    await fleetca(["ca", "revoke", "b.example.com", "--cadir", cadir]);
    fs.writeFileSync(path.join(cadir, "ca_crl.pem"), oldCrl);
    fs.writeFileSync(path.join(cadir, "serial"), "0003\n");
    const inv = read(cadir, "inventory.txt").trimEnd().split("\n");
    // sign --all signs in parallel, so which name got which serial is read, not assumed.
    const serialOf = (line: string) => parseInt(line.split(" ")[0]!, 16);
    const dropped = inv.at(-1)!;
    const droppedName = /\/CN=(.*)$/.exec(dropped)![1]!;
    const revokedSerial = serialOf(inv.find((l) => l.endsWith("/CN=b.example.com"))!);
    fs.writeFileSync(path.join(cadir, "inventory.txt"), `${inv.slice(0, -1).join("\n")}\n`);
    fs.writeFileSync(path.join(cadir, "signed", ".fleetca-tmp-x.pem.999999999.0123456789ab"), "partial");
    const found = await check(cadir);
    assert.equal(found.code, 1);
    assert.match(problemsOf(found.report, "serial").join(), /the next serial is 3, but 4 was already issued/);
    assert.ok(problemsOf(found.report, "inventory").join().includes(`${droppedName} (serial ${serialOf(dropped)}) has no inventory line`), JSON.stringify(found.report));
    assert.match(problemsOf(found.report, "crl").join(), new RegExp(`1 recorded revocation\\(s\\) are missing from the CRL: ${revokedSerial}\\b`));
    assert.match(problemsOf(found.report, "leftovers").join(), /a temporary file of a writer that is gone/);
    const fixed = await check(cadir, "--repair");
    assert.equal(fixed.code, 0, JSON.stringify(fixed.report));
    assert.ok(fixed.report.results.every((r) => r.remaining.length === 0));
    assert.equal(parseInt(read(cadir, "serial"), 16), 5);
    assert.ok(read(cadir, "inventory.txt").endsWith(`/CN=${droppedName}\n`));
    assert.equal((await check(cadir)).report.ok, true);
  });

  test("no CA where it looks: refused, saying where it looked", async () => {
    const r = await fleetca(["ca", "check", "--cadir", path.join(tmpDir(), "nothing")]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No CA found in cadir .*nothing/);
  });

  test("a certificate not signed by this CA is reported and left for a person: exit 1 after --repair too", async () => {
    const cadir = await caWith(["a.example.com"]);
    const other = await caWith(["intruder.example.com"]);
    fs.copyFileSync(path.join(other, "signed/intruder.example.com.pem"), path.join(cadir, "signed/intruder.example.com.pem"));
    const r = await check(cadir, "--repair");
    assert.equal(r.code, 1);
    assert.deepEqual(r.report.results.find((x) => x.check === "signatures")!.remaining, ["intruder.example.com: it is not signed by this CA's key"]);
    const text = await fleetca(["ca", "check", "--cadir", cadir]);
    assert.match(text.stderr, /signatures: intruder\.example\.com: it is not signed by this CA's key/);
    assert.match(text.stderr, /NOT consistent/);
  });
});

describe("ca check on the PostgreSQL store", { skip: pgUnavailable() }, () => {
  let pg: PgServer | undefined;
  after(async () => pg?.stop());

  test("consistent after signing; a request beside its certificate is found and repaired", async () => {
    pg = await startPg();
    const cadir = tmpDir();
    const flags = ["--store", pg.url, "--cadir", cadir];
    assert.equal((await fleetca(["ca", "setup", ...flags, "--key-type", "ec", "--certname", "ca.example.com"])).code, 0);
    const store = await PostgresStore.open(pg.url);
    try {
      const d = tmpDir();
      const csr = opensslCsr("pg.example.com", { dir: d });
      const csrFile = path.join(d, "pg.csr");
      fs.writeFileSync(csrFile, csr.csrPem);
      assert.equal((await fleetca(["ca", "submit", csrFile, ...flags])).code, 0);
      assert.equal((await fleetca(["ca", "sign", "pg.example.com", ...flags])).code, 0);
      let r = await fleetca(["ca", "check", ...flags, "--format", "json"]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // The same request stored again, as a crash in a store without transactions would leave it.
      const entry = (await store.listIndex(() => assert.fail("no summarizing"))).find((e) => e.name === "pg.example.com")!;
      await store.putRequest("pg.example.com", csr.csrPem, { ...entry, state: "requested", serial: undefined, notBefore: undefined, notAfter: undefined });
      r = await fleetca(["ca", "check", ...flags, "--format", "json"]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /pg\.example\.com holds both a request and the certificate issued from it/);
      r = await fleetca(["ca", "check", "--repair", ...flags, "--format", "json"]);
      assert.equal(r.code, 0, r.stdout);
      assert.equal(await store.getRequest("pg.example.com"), undefined);
    } finally {
      await store.close();
    }
  });
});
