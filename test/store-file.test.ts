import assert from "node:assert/strict";
import { execFile, spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { StoreConflictError, type CaMaterial, type IndexEntry, type InventoryEntry } from "../src/ca/store.js";
import { FileStore } from "../src/store/file/index.js";
import { BACKGROUND_SCAN, IndexCache } from "../src/store/file/index-cache.js";
import { FileLock } from "../src/store/file/lock.js";
import { dumpEntry, fakeSummarize } from "./store-file-child.js";

const run = promisify(execFile);
// withLock's call-chain check (re-entry refused rather than deadlocked): decided at the first
// withLock of the process, so set before any test runs. store-file-lock-mode.test.ts runs without it.
process.env.FLEETCA_LOCK_CHECKS = "1";
const childScript = fileURLToPath(new URL("./store-file-child.ts", import.meta.url));
const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function tempCadir(): string {
  const root = mkdtempSync(join(tmpdir(), "fleetca-store-"));
  roots.push(root);
  return join(root, "ca");
}

const material: CaMaterial = {
  certPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
  // A placeholder, not a key; the label is assembled so no key-like block sits in the repository.
  keyPem: `-----BEGIN ${"RSA PRIVATE"} KEY-----\nKEY\n-----END ${"RSA PRIVATE"} KEY-----\n`,
  publicKeyPem: "-----BEGIN PUBLIC KEY-----\nPUB\n-----END PUBLIC KEY-----\n",
  crlPem: "-----BEGIN X509 CRL-----\nCRL1\n-----END X509 CRL-----\n",
};

async function newCa(firstSerial = 1n): Promise<{ cadir: string; store: FileStore }> {
  const cadir = tempCadir();
  const store = new FileStore(cadir);
  await store.initialize(material, { firstSerial });
  return { cadir, store };
}

const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
const mode = (p: string) => statSync(p).mode & 0o777;
/** Other tools' changes in these tests are made a clock tick after ours, as they would be in life. */
const tick = () => new Promise((r) => setTimeout(r, 20));
const notBefore = new Date("2026-11-22T03:17:34Z");
const notAfter = new Date("2031-11-22T03:17:34Z");

function certArgs(name: string, serial: bigint): [string, string, InventoryEntry, IndexEntry] {
  const inv = { serial, notBefore, notAfter, subject: `/CN=${name}` };
  const entry: IndexEntry = { name, state: "signed", sha256: `SHA-${name}`, altNames: [`DNS:${name}`], authExtensions: { pp_cli_auth: "true" }, serial, notBefore, notAfter };
  return [name, pem("CERTIFICATE", name), inv, entry];
}

function requestEntry(name: string): IndexEntry {
  return { name, state: "requested", sha256: `CSR-${name}`, altNames: [], authExtensions: {} };
}

/** A tab-separated journal line in the JSON form fleetca wrote before (fields as in journal-tsv.ts). */
function legacyLine(line: string): string {
  const [tag, kind, ...f] = line.slice(1).split("\t");
  const k = kind === "r" ? "request" : "certificate";
  switch (tag) {
    case "P": {
      const [name, sha256, serial, nb, na, size, mtimeMs, dir, inv, alt, auth] = f as string[];
      const altNames = alt === "" ? [] : alt === "=" ? [`DNS:${name}`] : (JSON.parse(alt!) as string[]);
      const date = (ms: string | undefined) => (ms ? new Date(Number(ms)).toISOString() : undefined);
      return JSON.stringify({
        op: "put", kind: k, name, sha256, altNames, authExtensions: auth ? JSON.parse(auth) : {}, serial: serial || undefined,
        notBefore: date(nb), notAfter: date(na), size: Number(size), mtimeMs: Number(mtimeMs), dir: dir || undefined, inv: inv ? Number(inv) : undefined,
      });
    }
    case "D":
      return JSON.stringify({ op: "del", kind: k, name: f[0], dir: f[1] || undefined });
    case "M":
      return JSON.stringify({ op: "dir", kind: k, mtimeNs: f[0], settled: f[1] === "1" });
    default:
      return JSON.stringify({ op: "inv", size: Number(kind) });
  }
}

/**
 * Another tool's certificate `name` dropped into signed/ in the clock tick of our last write:
 * the directory's mtime is put back to what our write left (touch takes nanoseconds).
 */
function dropInOurTick(cadir: string, name: string): void {
  const signed = join(cadir, "signed");
  const ours = statSync(signed, { bigint: true }).mtimeNs;
  writeFileSync(join(signed, `${name}.pem`), pem("CERTIFICATE", name));
  const sec = ours / 1_000_000_000n;
  const touched = spawnSync("touch", ["-m", "-d", `@${sec}.${String(ours - sec * 1_000_000_000n).padStart(9, "0")}`, signed]);
  assert.equal(touched.status, 0, String(touched.stderr));
  assert.equal(statSync(signed, { bigint: true }).mtimeNs, ours);
}

/** The names listed once they include `name` (a background re-read finds it), or after 10 s whatever they are. */
async function listedOnceHolding(names: () => Promise<string[]>, name: string): Promise<string[]> {
  let seen = await names();
  for (const deadline = Date.now() + 10_000; !seen.includes(name) && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    seen = await names();
  }
  return seen;
}

function leftoverTemps(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => f.includes("fleetca-tmp"));
}

describe("FileStore layout", () => {
  it("initialize creates Puppet's layout with Puppet's modes, whatever the umask", async () => {
    const old = process.umask(0o077);
    try {
      const { cadir, store } = await newCa(3n);
      assert.equal(mode(cadir), 0o750);
      assert.equal(mode(join(cadir, "requests")), 0o750);
      assert.equal(mode(join(cadir, "signed")), 0o750);
      assert.equal(mode(join(cadir, "ca_crt.pem")), 0o644);
      assert.equal(mode(join(cadir, "ca_key.pem")), 0o600);
      assert.equal(mode(join(cadir, "ca_pub.pem")), 0o644);
      assert.equal(mode(join(cadir, "ca_crl.pem")), 0o644);
      assert.equal(mode(join(cadir, "infra_crl.pem")), 0o644);
      assert.equal(mode(join(cadir, "inventory.txt")), 0o640);
      assert.equal(mode(join(cadir, "infra_inventory.txt")), 0o640);
      assert.equal(mode(join(cadir, "infra_serials")), 0o644);
      assert.equal(mode(join(cadir, "serial")), 0o644);
      assert.equal(readFileSync(join(cadir, "serial"), "utf8"), "0003");
      assert.equal(readFileSync(join(cadir, "infra_crl.pem"), "utf8"), material.crlPem);
      for (const f of ["inventory.txt", "infra_inventory.txt", "infra_serials"]) assert.equal(readFileSync(join(cadir, f), "utf8"), "");
      assert.equal(await store.isInitialized(), true);
      assert.deepEqual(await store.loadCaMaterial(), material);
      assert.deepEqual(leftoverTemps(cadir), []);
    } finally {
      process.umask(old);
    }
  });

  it("starts inventory.txt with the CA's own line, as Puppet does", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "fleetca-store-cert-"));
    roots.push(dir);
    const made = spawnSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "k.pem"),
      "-out", join(dir, "c.pem"), "-subj", "/CN=Puppet CA: ca.example.com", "-days", "30", "-set_serial", "1",
    ]);
    if (made.status !== 0) return t.skip("openssl is not available");
    const certPem = readFileSync(join(dir, "c.pem"), "utf8");
    const cadir = tempCadir();
    await new FileStore(cadir).initialize({ ...material, certPem }, { firstSerial: 2n });
    assert.match(readFileSync(join(cadir, "inventory.txt"), "utf8"), /^0x0001 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dUTC \S+UTC \/CN=Puppet CA: ca\.example\.com\n$/);

    const given = tempCadir();
    const caInventory = { serial: 1n, notBefore, notAfter, subject: "/CN=Given CA" };
    await new FileStore(given).initialize(material, { firstSerial: 2n, caInventory });
    assert.equal(readFileSync(join(given, "inventory.txt"), "utf8"), "0x0001 2026-11-22T03:17:34UTC 2031-11-22T03:17:34UTC /CN=Given CA\n");
  });

  it("refuses to replace an existing CA unless asked, naming the files", async () => {
    const { cadir, store } = await newCa();
    await assert.rejects(store.initialize(material, { firstSerial: 1n }), (err: unknown) => {
      assert.ok(err instanceof StoreConflictError);
      assert.ok(err.paths.includes(join(cadir, "ca_key.pem")));
      assert.match(err.message, /ca_crt\.pem.*move them away/s);
      return true;
    });
    const other = { ...material, certPem: pem("CERTIFICATE", "CA2") };
    await store.initialize(other, { firstSerial: 0x10n, overwrite: true });
    assert.equal((await store.loadCaMaterial()).certPem, other.certPem);
    assert.equal(readFileSync(join(cadir, "serial"), "utf8"), "0010");
  });

  it("keeps an existing ca_key.pem mode that is stricter than 0600", async () => {
    const { cadir, store } = await newCa();
    spawnSync("chmod", ["0400", join(cadir, "ca_key.pem")]);
    await store.initialize(material, { firstSerial: 1n, overwrite: true });
    assert.equal(mode(join(cadir, "ca_key.pem")), 0o400);
  });

  it("says how to create a CA when there is none", async () => {
    const cadir = tempCadir();
    const store = new FileStore(cadir);
    assert.equal(await store.isInitialized(), false);
    await assert.rejects(store.loadCaMaterial(), (err: Error) => {
      assert.ok(err.message.includes(cadir));
      assert.ok(err.message.includes(`fleetca ca setup --cadir ${cadir}`));
      return true;
    });
  });
});

describe("FileStore serials and inventory", () => {
  it("stores the next serial as %04X without newline and reads Puppet's variants", async () => {
    const { cadir, store } = await newCa(3n);
    assert.equal(await store.withLock(() => store.allocateSerial()), 3n);
    assert.equal(readFileSync(join(cadir, "serial"), "utf8"), "0004");
    writeFileSync(join(cadir, "serial"), "03\n"); // what the Ruby `puppetserver ca setup` writes
    assert.equal(await store.peekSerial(), 3n);
    writeFileSync(join(cadir, "serial"), "17d9");
    assert.equal(await store.withLock(() => store.allocateSerial()), 0x17d9n);
    assert.equal(readFileSync(join(cadir, "serial"), "utf8"), "17DA");
    writeFileSync(join(cadir, "serial"), "FFFF");
    await store.withLock(() => store.allocateSerial());
    assert.equal(readFileSync(join(cadir, "serial"), "utf8"), "10000");
  });

  it("refuses to allocate a serial outside withLock", async () => {
    const { store } = await newCa();
    await assert.rejects(store.allocateSerial(), /inside withLock/);
  });

  it("appends Puppet's inventory lines and reads them back, skipping a torn last line", async () => {
    const { cadir, store } = await newCa(3n);
    await store.putCertificate(...certArgs("agent1.example.com", 3n));
    await store.putCertificate(...certArgs("agent2.example.com", 0x17d9n));
    assert.equal(
      readFileSync(join(cadir, "inventory.txt"), "utf8"),
      "0x0003 2026-11-22T03:17:34UTC 2031-11-22T03:17:34UTC /CN=agent1.example.com\n" +
        "0x17D9 2026-11-22T03:17:34UTC 2031-11-22T03:17:34UTC /CN=agent2.example.com\n",
    );
    appendFileSync(join(cadir, "inventory.txt"), "0x17DA 2026-11-22T03:17:34UTC 2031-11-22T03:17:34UTC /CN=agen");
    const inv = await store.readInventory();
    assert.deepEqual(
      inv.map((e) => [e.serial, e.subject, e.notBefore.toISOString(), e.notAfter.toISOString()]),
      [
        [3n, "/CN=agent1.example.com", notBefore.toISOString(), notAfter.toISOString()],
        [0x17d9n, "/CN=agent2.example.com", notBefore.toISOString(), notAfter.toISOString()],
      ],
    );
    assert.equal(readFileSync(join(cadir, "signed", "agent1.example.com.pem"), "utf8"), pem("CERTIFICATE", "agent1.example.com"));
    assert.equal(mode(join(cadir, "signed", "agent1.example.com.pem")), 0o644);
  });

  it("gives distinct serials to two processes allocating 200 each, and journals all their certificates", async () => {
    const { cadir, store } = await newCa(0x10n);
    const children = ["a", "b"].map((prefix) =>
      run(process.execPath, ["--import", "tsx", childScript, cadir, "alloc", "200", prefix], { cwd: process.cwd() }),
    );
    const outputs = await Promise.all(children);
    const serials = outputs.flatMap((o) => JSON.parse(o.stdout) as string[]).map((h) => BigInt(`0x${h}`));
    assert.equal(serials.length, 400);
    assert.equal(new Set(serials).size, 400);
    assert.deepEqual([...serials].sort((x, y) => (x < y ? -1 : 1)), Array.from({ length: 400 }, (_, i) => 0x10n + BigInt(i)));
    assert.equal(readFileSync(join(cadir, "serial"), "utf8"), (0x10 + 400).toString(16).toUpperCase().padStart(4, "0"));
    assert.equal((await store.readInventory()).length, 400);
    // Everything they signed came through the journal: no PEM had to be parsed.
    const counter = { n: 0 };
    const list = await store.listIndex(fakeSummarize(counter));
    assert.equal(list.length, 400);
    assert.equal(counter.n, 0);
    assert.deepEqual(leftoverTemps(cadir), []);
    assert.ok(!readdirSync(cadir).includes(".fleetca.lock"));
  });
});

describe("FileStore index", () => {
  it("lists what the store wrote, sorted, with bigint serials and dates intact", async () => {
    const { store } = await newCa();
    await store.putRequest("zeta", pem("CERTIFICATE REQUEST", "z"), requestEntry("zeta"));
    await store.putRequest("alpha", pem("CERTIFICATE REQUEST", "a"), requestEntry("alpha"));
    await store.putCertificate(...certArgs("alpha", 0x123456789abcdef0123n));
    const list = await store.listIndex(fakeSummarize({ n: 0 }));
    assert.deepEqual(list.map((e) => [e.name, e.state]), [["alpha", "requested"], ["alpha", "signed"], ["zeta", "requested"]]);
    const signed = list[1]!;
    assert.equal(signed.serial, 0x123456789abcdef0123n);
    assert.equal(signed.notAfter?.toISOString(), notAfter.toISOString());
    assert.deepEqual(signed.authExtensions, { pp_cli_auth: "true" });
    assert.equal(await store.deleteRequest("alpha"), true);
    assert.equal(await store.deleteRequest("alpha"), false);
    assert.deepEqual(await store.getIndexEntry("alpha", fakeSummarize({ n: 0 })), { certificate: signed });
    assert.equal(await store.getRequest("alpha"), undefined);
  });

  it("reflects files other tools add, replace, rewrite in place and delete", async () => {
    const { cadir, store } = await newCa();
    await store.putCertificate(...certArgs("mine", 2n));
    const counter = { n: 0 };
    const summarize = fakeSummarize(counter);
    await store.listIndex(summarize);

    await tick();
    writeFileSync(join(cadir, "signed", "other.pem"), pem("CERTIFICATE", "other v1"));
    writeFileSync(join(cadir, "requests", "pending.pem"), pem("CERTIFICATE REQUEST", "p"));
    let list = await store.listIndex(summarize);
    assert.deepEqual(list.map((e) => `${e.name}:${e.state}`), ["mine:signed", "other:signed", "pending:requested"]);
    const v1 = list[1]!.sha256;

    // Replaced by rename, as an atomic writer would.
    await tick();
    writeFileSync(join(cadir, "signed", "tmp-new"), pem("CERTIFICATE", "other v2"));
    renameSync(join(cadir, "signed", "tmp-new"), join(cadir, "signed", "other.pem"));
    list = await store.listIndex(summarize);
    const v2 = list.find((e) => e.name === "other")!.sha256;
    assert.notEqual(v2, v1);

    // Rewritten in place by a Puppet signer: the directory does not change, the inventory grows.
    await tick();
    writeFileSync(join(cadir, "signed", "other.pem"), pem("CERTIFICATE", "other v3, longer"));
    appendFileSync(join(cadir, "inventory.txt"), "0x0009 2026-11-22T03:17:34UTC 2031-11-22T03:17:34UTC /CN=other\n");
    list = await store.listIndex(summarize);
    assert.notEqual(list.find((e) => e.name === "other")!.sha256, v2);

    await tick();
    unlinkSync(join(cadir, "signed", "other.pem"));
    writeFileSync(join(cadir, "signed", "garbage.pem"), "not a certificate");
    writeFileSync(join(cadir, "signed", "README"), "ignored");
    list = await store.listIndex(summarize);
    assert.deepEqual(list.map((e) => e.name), ["mine", "pending"]);

    const seen = counter.n;
    await store.listIndex(summarize);
    assert.equal(counter.n, seen, "an unparseable file is not re-read while it is unchanged");
    // Finished in place, as if we had caught its writer half-way: no directory change, still seen.
    await tick();
    writeFileSync(join(cadir, "signed", "garbage.pem"), pem("CERTIFICATE", "finished"));
    list = await store.listIndex(summarize);
    assert.deepEqual(list.map((e) => e.name), ["garbage", "mine", "pending"]);
    assert.deepEqual(leftoverTemps(cadir), []);
  });

  for (const background of [false, true]) {
    it(`finds another tool's file dropped in the clock tick of our last write, once the directory settles (${background ? "read in the background, as for a large directory" : "read at once"})`, async () => {
      const from = BACKGROUND_SCAN.from;
      if (background) BACKGROUND_SCAN.from = 1;
      try {
        const { cadir, store } = await newCa();
        const summarize = fakeSummarize({ n: 0 });
        await store.putCertificate(...certArgs("mine-1", 2n));
        await store.listIndex(summarize);
        await store.putCertificate(...certArgs("mine-2", 3n));
        dropInOurTick(cadir, "sneaky");
        const names = async () => (await store.listIndex(summarize)).map((e) => e.name);
        assert.deepEqual(await names(), ["mine-1", "mine-2"], "unseen while the directory may still be in our write's tick");
        await new Promise((r) => setTimeout(r, 2100));
        assert.deepEqual(await listedOnceHolding(names, "sneaky"), ["mine-1", "mine-2", "sneaky"]);
      } finally {
        BACKGROUND_SCAN.from = from;
      }
    });
  }

  it("leaves another fleetca process's batch to its journal while it holds the CA lock, and reads the directory once it lets go or after 2 s", async () => {
    const { cadir, store } = await newCa();
    const counter = { n: 0 };
    const names = async () => (await store.listIndex(fakeSummarize(counter))).map((e) => e.name);
    await store.putCertificate(...certArgs("mine-1", 2n));
    assert.deepEqual(await names(), ["mine-1"]);
    // Another server, inside the lock, has written its certificate and inventory line but not yet its journal lines.
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const lockPath = join(cadir, ".fleetca.lock");
      const holdLock = () => writeFileSync(lockPath, JSON.stringify({ pid: other.pid, hostname: hostname(), acquiredAt: new Date().toISOString() }));
      const midBatch = async (name: string) => {
        await tick();
        writeFileSync(join(cadir, "signed", `${name}.pem`), pem("CERTIFICATE", name));
        appendFileSync(join(cadir, "inventory.txt"), `0x0009 2026-11-22T03:17:34UTC 2031-11-22T03:17:34UTC /CN=${name}\n`);
      };
      holdLock();
      await midBatch("theirs-1");
      assert.deepEqual(await names(), ["mine-1"], "its files are its journal's to announce: signed/ is not re-read under its lock");
      assert.equal(counter.n, 0);
      unlinkSync(lockPath);
      assert.deepEqual(await names(), ["mine-1", "theirs-1"], "with the lock free, the directory is read");
      assert.equal(counter.n, 1);
      holdLock();
      await midBatch("theirs-2");
      assert.deepEqual(await names(), ["mine-1", "theirs-1"]);
      // A change another tool makes while fleetca processes keep the lock busy is still found, SETTLE_MS later.
      await new Promise((r) => setTimeout(r, 2100));
      assert.deepEqual(await names(), ["mine-1", "theirs-1", "theirs-2"]);
      // A process's first look reads the directory whoever holds the lock (a CLI looks once).
      await midBatch("theirs-3");
      const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, cadir, "list"]);
      assert.ok(JSON.parse(stdout).entries.some((e: string[]) => e[0] === "theirs-3"));
      unlinkSync(lockPath);
    } finally {
      other.kill();
    }
  });

  it("reads a large signed/'s names ahead of loading the index when the journal's tail says it is unsettled, and still finds another tool's file", async () => {
    const from = BACKGROUND_SCAN.from;
    BACKGROUND_SCAN.from = 1;
    try {
      const { cadir, store } = await newCa();
      const summarize = fakeSummarize({ n: 0 });
      await store.putCertificate(...certArgs("mine-1", 2n));
      await store.listIndex(summarize);
      await store.putCertificate(...certArgs("mine-2", 3n));
      dropInOurTick(cadir, "sneaky");
      await new Promise((r) => setTimeout(r, 2100));
      // A new process (a CLI list): its first look starts the names' read before the journal's load.
      IndexCache.forget(cadir);
      const fresh = new FileStore(cadir);
      const names = async () => (await fresh.listIndex(summarize)).map((e) => e.name);
      assert.deepEqual(await listedOnceHolding(names, "sneaky"), ["mine-1", "mine-2", "sneaky"]);
    } finally {
      BACKGROUND_SCAN.from = from;
    }
  });

  it("lets a long-running process see what another process signed, through the journal", async () => {
    const { store } = await newCa();
    await store.putRequest("cli-1", pem("CERTIFICATE REQUEST", "c"), requestEntry("cli-1"));
    const counter = { n: 0 };
    assert.equal((await store.listIndex(fakeSummarize(counter))).length, 1);
    await run(process.execPath, ["--import", "tsx", childScript, store.location, "alloc", "3", "cli"]);
    const list = await store.listIndex(fakeSummarize(counter));
    assert.deepEqual(list.map((e) => `${e.name}:${e.state}`), ["cli-1:requested", "cli-1:signed", "cli-2:signed", "cli-3:signed"]);
    assert.equal(list[1]?.serial, 1n);
    assert.equal(counter.n, 0, "no PEM parsed: the other process's writes came through the journal");
  });

  it("answers sensibly where there is no CA", async () => {
    const store = new FileStore(tempCadir());
    assert.deepEqual(await store.listIndex(fakeSummarize({ n: 0 })), []);
    assert.equal(await store.deleteRequest("x"), false);
    assert.equal(await store.getCertificate("x"), undefined);
    await assert.rejects(store.putRequest("x", "pem", requestEntry("x")), /No CA in .*fleetca ca setup --cadir/s);
  });

  it("is read by a fresh process, tolerating a torn journal line", async () => {
    const { cadir, store } = await newCa();
    await store.putRequest("one", pem("CERTIFICATE REQUEST", "1"), requestEntry("one"));
    appendFileSync(join(cadir, "fleetca_index.jsonl"), '{"op":"put","kind":"certificate","name":"torn","sha');
    // A process that crashed mid-line; the next writer's line is glued onto it.
    await store.putRequest("two", pem("CERTIFICATE REQUEST", "2"), requestEntry("two"));
    appendFileSync(join(cadir, "fleetca_index.jsonl"), '{"op":"del","kind":"request","na\n{"op":"put","kind"');
    const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, cadir, "list"]);
    const out = JSON.parse(stdout) as { entries: string[][]; summarized: number };
    assert.deepEqual(out.entries.map((e) => e[0]), ["one", "two"]);
    assert.equal(out.summarized, 0);
    assert.deepEqual((await store.listIndex(fakeSummarize({ n: 0 }))).map((e) => e.name), ["one", "two"]);
  });

  it("gives a fresh process every field back from the journal, for usual and unusual entries", async () => {
    const { cadir, store } = await newCa();
    const big = 0x1234567890abcdef0123456789n;
    const usual = (name: string, serial: bigint): IndexEntry => ({ ...certArgs(name, serial)[3], authExtensions: {} });
    const entries: [string, string, InventoryEntry | undefined, IndexEntry][] = [
      ["plain", pem("CERTIFICATE REQUEST", "p"), undefined, requestEntry("plain")],
      ["alts", pem("CERTIFICATE REQUEST", "a"), undefined, { ...requestEntry("alts"), altNames: ["DNS:alts", "IP:10.0.0.1", "DNS:x.example.com"] }],
      ["tab\tname", pem("CERTIFICATE REQUEST", "t"), undefined, requestEntry("tab\tname")],
      ["usual", pem("CERTIFICATE", "u"), certArgs("usual", 7n)[2], usual("usual", 7n)],
      ["huge", pem("CERTIFICATE", "h"), certArgs("huge", big)[2], usual("huge", big)],
      ["cli", pem("CERTIFICATE", "c"), certArgs("cli", 9n)[2], certArgs("cli", 9n)[3]],
    ];
    for (const [name, text, inv, entry] of entries) {
      if (inv) await store.putCertificate(name, text, inv, entry);
      else await store.putRequest(name, text, entry);
    }
    const here = (await store.listIndex(fakeSummarize({ n: 0 }))).map(dumpEntry);
    assert.equal(here.length, 6);
    // Only the name with a control character needed the JSON form.
    const lines = readFileSync(join(cadir, "fleetca_index.jsonl"), "utf8").split("\n").slice(1, -1);
    assert.deepEqual(lines.filter((l) => l.startsWith("{")).length, 1);
    const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, cadir, "dump"]);
    const fresh = JSON.parse(stdout) as { entries: unknown[][]; summarized: number };
    assert.deepEqual(fresh.entries, here);
    assert.equal(fresh.summarized, 0);
    assert.deepEqual(fresh.entries.find((e) => e[0] === "huge")?.slice(5), [big.toString(16), notBefore.toISOString(), notAfter.toISOString()]);
  });

  it("reads a journal an older fleetca wrote (JSON lines), and rewrites a long one in the compact form", async () => {
    const { cadir, store } = await newCa();
    for (let i = 0; i < 1100; i++) await store.putRequest(`old-${i}`, pem("CERTIFICATE REQUEST", `o${i}`), requestEntry(`old-${i}`));
    await store.putCertificate(...certArgs("old-0", 5n));
    const expected = (await store.listIndex(fakeSummarize({ n: 0 }))).map(dumpEntry);
    // The same records as an older version wrote them: one JSON object per line.
    const journal = join(cadir, "fleetca_index.jsonl");
    const [head, ...rest] = readFileSync(journal, "utf8").split("\n");
    writeFileSync(journal, [head, ...rest.filter((l) => l !== "").map(legacyLine)].join("\n") + "\n");
    const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, cadir, "dump"]);
    const fresh = JSON.parse(stdout) as { entries: unknown[][]; summarized: number };
    assert.deepEqual(fresh.entries, expected);
    assert.equal(fresh.summarized, 0, "read from the journal, not from the PEM files");
    const after = readFileSync(journal, "utf8").split("\n").slice(1, -1);
    assert.ok(after.length > 1100 && after.every((l) => l.startsWith("\u001e")), "rewritten as tab-separated lines");
  });

  it("rebuilds from the PEM files when journal lines are damaged, and shows files other tools dropped in", async () => {
    const { cadir, store } = await newCa();
    await store.putRequest("one", pem("CERTIFICATE REQUEST", "1"), requestEntry("one"));
    await store.putCertificate(...certArgs("two", 2n));
    const journal = join(cadir, "fleetca_index.jsonl");
    // Every record line cut short (a damaged disk, a bad copy): none can be trusted.
    const [head, ...rest] = readFileSync(journal, "utf8").split("\n");
    writeFileSync(journal, [head, ...rest.filter((l) => l !== "").map((l) => l.slice(0, 30))].join("\n") + "\n");
    await tick();
    writeFileSync(join(cadir, "requests", "dropped.pem"), pem("CERTIFICATE REQUEST", "d"));
    const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, cadir, "list"]);
    const out = JSON.parse(stdout) as { entries: string[][]; summarized: number };
    assert.deepEqual(out.entries.map((e) => `${e[0]}:${e[1]}`), ["dropped:requested", "one:requested", "two:signed"]);
    assert.equal(out.summarized, 3, "every file read again");
  });

  it("rebuilds from the PEM files when the journal is deleted, and compacts a long journal", async () => {
    const { cadir, store } = await newCa();
    // Requests named out of order, kept through the compaction: it writes them in name order.
    for (const name of ["kept-c", "kept-a", "kept-b"]) await store.putRequest(name, pem("CERTIFICATE REQUEST", name), requestEntry(name));
    for (let i = 0; i < 600; i++) {
      await store.putRequest("churn", pem("CERTIFICATE REQUEST", `c${i}`), requestEntry("churn"));
      await store.deleteRequest("churn");
    }
    await store.putRequest("kept", pem("CERTIFICATE REQUEST", "k"), requestEntry("kept"));
    await store.listIndex(fakeSummarize({ n: 0 }));
    const text = readFileSync(join(cadir, "fleetca_index.jsonl"), "utf8");
    const lines = text.split("\n").length;
    assert.ok(lines < 20, `journal compacted to ${lines} lines`);
    const putNames = text.split("\n").filter((l) => l.startsWith("\u001eP\t")).map((l) => l.split("\t")[2]);
    assert.deepEqual(putNames, ["kept", "kept-a", "kept-b", "kept-c"], "the compacted journal is in name order, so a load sorts nothing");
    for (const name of ["kept-a", "kept-b", "kept-c"]) await store.deleteRequest(name);

    unlinkSync(join(cadir, "fleetca_index.jsonl"));
    const counter = { n: 0 };
    assert.deepEqual((await store.listIndex(fakeSummarize(counter))).map((e) => e.name), ["kept"]);
    assert.equal(counter.n, 1);
  });

  it("refuses names that would leave the directory, accepts Puppet's odd ones", async () => {
    const { cadir, store } = await newCa();
    for (const bad of ["", ".", "..", "../x", "a/b", "a\\b", "a\0b"]) {
      await assert.rejects(store.putRequest(bad, "x", requestEntry(bad)), /unsafe certificate name/, bad);
      await assert.rejects(store.getCertificate(bad), /unsafe certificate name/, bad);
      await assert.rejects(store.deleteCertificate(bad), /unsafe certificate name/, bad);
    }
    await store.putRequest("trailingdot.example.com.", pem("CERTIFICATE REQUEST", "t"), requestEntry("trailingdot.example.com."));
    assert.ok(readdirSync(join(cadir, "requests")).includes("trailingdot.example.com..pem"));
  });
});

describe("FileStore CRL and lock", () => {
  it("replaces ca_crl.pem and leaves infra_crl.pem as setup wrote it, as Puppet Server does", async () => {
    const { cadir, store } = await newCa();
    const infra = readFileSync(join(cadir, "infra_crl.pem"), "utf8");
    const v0 = await store.materialVersion();
    await store.putCrl(pem("X509 CRL", "CRL2"));
    assert.equal(await store.getCrl(), pem("X509 CRL", "CRL2"));
    assert.equal(readFileSync(join(cadir, "ca_crl.pem"), "utf8"), pem("X509 CRL", "CRL2"));
    assert.equal(readFileSync(join(cadir, "infra_crl.pem"), "utf8"), infra);
    assert.notEqual(await store.materialVersion(), v0);
  });

  it("queues callers in one process and refuses re-entry", async () => {
    const { store } = await newCa();
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.withLock(async () => {
          maxInside = Math.max(maxInside, ++inside);
          await new Promise((r) => setTimeout(r, 1));
          inside--;
        }),
      ),
    );
    assert.equal(maxInside, 1);
    await assert.rejects(store.withLock(() => store.withLock(async () => 1)), /not re-entrant/);
  });

  it("a waiter takes the lock when its holder lets go, woken by the lock file's removal rather than its next retry", async () => {
    const { cadir } = await newCa();
    const lockPath = join(cadir, ".fleetca.lock");
    const release = await new FileLock(lockPath).acquire();
    // Retries so far apart that only the wake-up can hand the lock over within the test.
    const waiter = new FileLock(lockPath, { firstRetryMs: 60_000, maxRetryMs: 60_000, timeoutMs: 120_000 }).acquire();
    await new Promise((r) => setTimeout(r, 200));
    await release();
    const got = await Promise.race([waiter, new Promise<"still waiting">((r) => setTimeout(() => r("still waiting"), 10_000).unref())]);
    assert.notEqual(got, "still waiting");
    assert.ok(readdirSync(cadir).includes(".fleetca.lock"), "the waiter holds it");
    await (got as () => Promise<void>)();
    assert.ok(!readdirSync(cadir).includes(".fleetca.lock"));
  });

  it("a waiter tells the holder it waits, without making the holder's lock look fresher or unreadable", async () => {
    const { cadir } = await newCa();
    const lockPath = join(cadir, ".fleetca.lock");
    const release = await new FileLock(lockPath).acquire();
    assert.equal(release.othersWaiting(), false);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockPath, old, old);
    const waiter = new FileLock(lockPath, { firstRetryMs: 60_000, maxRetryMs: 60_000, timeoutMs: 120_000 }).acquire();
    // The waiter's first try also reads the holder's file (is it stale?): on a busy machine that takes a while.
    for (const deadline = Date.now() + 20_000; !release.othersWaiting() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    assert.equal(release.othersWaiting(), true);
    // Within a millisecond: utimes takes what stat gave, through a float of milliseconds.
    assert.ok(Math.abs(statSync(lockPath).mtimeMs - old.getTime()) < 1, "the mtime stays the holder's heartbeat");
    assert.equal(JSON.parse(readFileSync(lockPath, "utf8")).pid, process.pid);
    await release();
    await (await waiter)();
  });

  it("breaks a lock left by a dead process, and times out on a live one naming the lock file", async () => {
    const { cadir } = await newCa();
    const lockPath = join(cadir, ".fleetca.lock");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    writeFileSync(lockPath, JSON.stringify({ pid: Number(dead), hostname: hostname(), acquiredAt: "then" }));
    const store = new FileStore(cadir, { timeoutMs: 2000 });
    assert.equal(await store.withLock(async () => "got it"), "got it");

    writeFileSync(lockPath, JSON.stringify({ pid: process.pid, hostname: hostname(), acquiredAt: "now" }));
    const impatient = new FileStore(cadir, { timeoutMs: 200 });
    await assert.rejects(impatient.withLock(async () => 1), (err: Error) => {
      assert.ok(err.message.includes(lockPath));
      assert.ok(err.message.includes(`pid ${process.pid}`));
      return true;
    });
    unlinkSync(lockPath);
  });
});

describe("FileStore after a crash and with long names", () => {
  it("one request that cannot be written fails alone: the others written in its batch are stored and acknowledged", async () => {
    const { cadir, store } = await newCa();
    // A directory where the request file should go: its rename fails (EISDIR), as a name the
    // filesystem refuses or a full disk would.
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(cadir, "requests", "bad.example.com.pem"));
    const names = Array.from({ length: 39 }, (_, i) => `agent${i}.example.com`);
    const all = [...names.slice(0, 20), "bad.example.com", ...names.slice(20)];
    const results = await Promise.allSettled(all.map((n) => store.putRequest(n, pem("CERTIFICATE REQUEST", n), requestEntry(n))));
    const failed = all.filter((_, i) => results[i]!.status === "rejected");
    assert.deepEqual(failed, ["bad.example.com"]);
    const listed = (await store.listIndex(fakeSummarize({ n: 0 }))).map((e) => e.name);
    assert.deepEqual(listed, [...names].sort());
    for (const n of names) assert.equal(await store.getRequest(n), pem("CERTIFICATE REQUEST", n));
    rmSync(join(cadir, "requests", "bad.example.com.pem"), { recursive: true });
    await store.putRequest("bad.example.com", pem("CERTIFICATE REQUEST", "bad"), requestEntry("bad.example.com"));
    assert.equal(await store.getRequest("bad.example.com"), pem("CERTIFICATE REQUEST", "bad"));
  });

  it("a 253-character name is stored in a file the filesystem takes, listed, and survives a fresh index", async () => {
    const { cadir, store } = await newCa();
    const name = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
    await store.putRequest(name, pem("CERTIFICATE REQUEST", "long"), requestEntry(name));
    await store.putCertificate(...certArgs(name, 5n));
    assert.ok(readdirSync(join(cadir, "signed")).every((f) => Buffer.byteLength(f) <= 255));
    // Another process (no journal) finds it by scanning the directories.
    rmSync(join(cadir, "fleetca_index.jsonl"), { force: true });
    const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, cadir, "list"]);
    assert.deepEqual(JSON.parse(stdout).entries.map((e: string[]) => [e[0], e[1]]), [[name, "requested"], [name, "signed"]]);
    assert.equal(await store.deleteCertificate(name), true);
    assert.equal(await store.getCertificate(name), undefined);
  });

  it("open removes temporary files left by a writer that died, and keeps a live writer's", async () => {
    const { cadir } = await newCa();
    const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
    const stale = [join(cadir, `.fleetca-tmp-ca_crl.pem.${dead}.0123456789ab`), join(cadir, "signed", `.fleetca-tmp-x.pem.${dead}.0123456789ab`)];
    const live = join(cadir, "requests", `.fleetca-tmp-y.pem.${process.pid}.0123456789ab`);
    for (const f of [...stale, live]) writeFileSync(f, "partial");
    const store = await FileStore.open(cadir);
    assert.deepEqual((await store.leftovers()).map((l) => [l.path, l.stale]), [[live, false]]);
    for (const f of stale) assert.equal(statSync(f, { throwIfNoEntry: false }), undefined, `${f} removed`);
    unlinkSync(live);
  });
});
