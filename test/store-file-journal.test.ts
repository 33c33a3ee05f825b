/**
 * The commit journal (src/store/file/commit-journal.ts): a batch that reached the journal is
 * in Puppet's files after recovery, whether its writer died before writing them (same boot)
 * or the machine lost its page cache (another boot); a cleaned certificate stays cleaned.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, existsSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import type { CaMaterial, IndexEntry, SignedCommit } from "../src/ca/store.js";
import { CommitJournal, currentBoot, setBootForTests, sha256Hex } from "../src/store/file/commit-journal.js";
import { formatInventoryLine } from "../src/store/file/formats.js";
import { FileStore } from "../src/store/file/index.js";

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
afterEach(() => setBootForTests(undefined));

const material: CaMaterial = {
  certPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
  keyPem: `-----BEGIN ${"RSA PRIVATE"} KEY-----\nKEY\n-----END ${"RSA PRIVATE"} KEY-----\n`,
  publicKeyPem: "-----BEGIN PUBLIC KEY-----\nPUB\n-----END PUBLIC KEY-----\n",
  crlPem: "-----BEGIN X509 CRL-----\nCRL1\n-----END X509 CRL-----\n",
};

async function newCa(): Promise<{ cadir: string; store: FileStore }> {
  const root = mkdtempSync(join(tmpdir(), "fleetca-journal-"));
  roots.push(root);
  const cadir = join(root, "ca");
  const store = new FileStore(cadir);
  await store.initialize(material, { firstSerial: 2n, caInventory: null });
  return { cadir, store };
}

const notBefore = new Date("2026-11-22T03:17:34Z");
const notAfter = new Date("2031-11-22T03:17:34Z");

function commit(name: string, serial: bigint): SignedCommit {
  const entry: IndexEntry = { name, state: "signed", sha256: `SHA-${name}`, altNames: [], authExtensions: {}, serial, notBefore, notAfter };
  return { name, certPem: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`, inventory: { serial, notBefore, notAfter, subject: `/CN=${name}` }, entry };
}

const read = (p: string) => readFileSync(p, "utf8");

describe("FileStore commit journal", () => {
  it("a batch whose writer died after the journal's fsync is applied before the store is used again", async () => {
    const { cadir, store } = await newCa();
    const csr = "-----BEGIN CERTIFICATE REQUEST-----\nA\n-----END CERTIFICATE REQUEST-----\n";
    await store.putRequest("a.example", csr, { name: "a.example", state: "requested", sha256: "x", altNames: [], authExtensions: {} });
    const c = commit("a.example", 2n);
    // What commitSigned writes first, and all a writer killed right after it leaves behind.
    await new CommitJournal(join(cadir, "fleetca_journal.log")).append({
      boot: currentBoot(), pid: 999_999_999, serial: "03", invAt: statSync(join(cadir, "inventory.txt")).size,
      ops: [{ op: "cert", name: c.name, pem: c.certPem, inv: formatInventoryLine(c.inventory) }, { op: "unreq", name: c.name, sha: sha256Hex(csr) }],
    });
    const next = new FileStore(cadir);
    const report = await next.recover();
    assert.equal(report?.certificates, 1);
    assert.equal(read(join(cadir, "signed", "a.example.pem")), c.certPem);
    assert.equal(existsSync(join(cadir, "requests", "a.example.pem")), false);
    assert.equal(read(join(cadir, "inventory.txt")), formatInventoryLine(c.inventory));
    assert.equal(read(join(cadir, "serial")).trim(), "0003");
    // Applied once: a second process finds nothing left to do.
    assert.equal((await new FileStore(cadir).recover())?.certificates ?? 0, 0);
    assert.equal(read(join(cadir, "inventory.txt")), formatInventoryLine(c.inventory));
  });

  it("a batch's inventory lines found after its offset (another writer appended first) are not appended again; those missing are", async () => {
    const { cadir } = await newCa();
    const inv = join(cadir, "inventory.txt");
    const other = formatInventoryLine(commit("other.example", 9n).inventory);
    const a = commit("a.example", 2n);
    const b = commit("b.example", 3n);
    const at = statSync(inv).size;
    // Another process's line, then only a's line of the batch reached the file before the crash.
    writeFileSync(inv, other + formatInventoryLine(a.inventory));
    await new CommitJournal(join(cadir, "fleetca_journal.log")).append({
      boot: currentBoot(), pid: 999_999_999, serial: "04", invAt: at,
      ops: [a, b].map((c) => ({ op: "cert" as const, name: c.name, pem: c.certPem, inv: formatInventoryLine(c.inventory) })),
    });
    const report = await new FileStore(cadir).recover();
    assert.equal(report?.inventoryLines, 1);
    assert.equal(read(inv), other + formatInventoryLine(a.inventory) + formatInventoryLine(b.inventory));
  });

  it("after a reboot every batch since the checkpoint is checked, a cleaned certificate stays cleaned, and the journal is emptied", async () => {
    const { cadir, store } = await newCa();
    await store.withLock(async () => {
      await store.allocateSerials(3);
      await store.commitSigned([commit("a.example", 2n), commit("b.example", 3n)]);
      await store.commitSigned([commit("c.example", 4n)]);
      await store.deleteCertificate("b.example");
    });
    const inventory = read(join(cadir, "inventory.txt"));
    assert.equal(inventory.split("\n").filter(Boolean).length, 3);
    // What a power cut can do to files written without an fsync: gone, or short.
    unlinkSync(join(cadir, "signed", "a.example.pem"));
    unlinkSync(join(cadir, "signed", "c.example.pem"));
    truncateSync(join(cadir, "inventory.txt"), 0);
    writeFileSync(join(cadir, "serial"), "0002\n");
    setBootForTests("another-boot");
    const report = await new FileStore(cadir).recover();
    assert.equal(report?.batches, 3);
    assert.ok(existsSync(join(cadir, "signed", "a.example.pem")));
    assert.ok(existsSync(join(cadir, "signed", "c.example.pem")));
    assert.equal(existsSync(join(cadir, "signed", "b.example.pem")), false, "the clean after the issue is replayed too");
    assert.deepEqual(read(join(cadir, "inventory.txt")).split("\n").sort(), inventory.split("\n").sort());
    assert.equal(read(join(cadir, "serial")).trim(), "0005");
    assert.equal(statSync(join(cadir, "fleetca_journal.log")).size, 0, "checkpointed after the replay");
  });

  it("a clean stop checkpoints the journal", async () => {
    const { cadir, store } = await newCa();
    await store.withLock(async () => {
      await store.allocateSerials(1);
      await store.commitSigned([commit("a.example", 2n)]);
    });
    assert.ok(statSync(join(cadir, "fleetca_journal.log")).size > 0);
    await store.close();
    assert.equal(statSync(join(cadir, "fleetca_journal.log")).size, 0);
    assert.ok(existsSync(join(cadir, "signed", "a.example.pem")));
  });
});
