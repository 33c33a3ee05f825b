/**
 * The file store's records: audit.log, fleetca_revocations.tsv (and its rebuild from the
 * CRL), and certificates found by serial. Real files in a temporary directory, a real CRL
 * signed with a real key; checked the way a user would see them.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { KeyObject } from "node:crypto";
import type { AuditRecord } from "../src/ca/audit.js";
import type { RevocationReason, RevocationRecord } from "../src/ca/revocation.js";
import type { CaMaterial, IndexEntry, InventoryEntry } from "../src/ca/store.js";
import { crlToPem, emptyCrlState, signCrl, withRevocations, type RevocationRequest } from "../src/pki/crl.js";
import { generateKeyPair } from "../src/pki/keys.js";
import { cnName } from "../src/pki/name.js";
import { formatInventoryLine } from "../src/store/file/formats.js";
import { FileStore } from "../src/store/file/index.js";
import { encodeRecord } from "../src/store/file/revocations.js";
import { fakeSummarize } from "./store-file-child.js";

const run = promisify(execFile);
const storeModule = fileURLToPath(new URL("../src/store/file/index.ts", import.meta.url));
const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

let caKey: KeyObject;
before(async () => {
  caKey = (await generateKeyPair({ type: "ec", curve: "P-256" })).privateKey;
});

const T0 = new Date("2026-11-22T03:17:34Z");
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const mode = (p: string) => statSync(p).mode & 0o777;
const summarize = fakeSummarize({ n: 0 });

/** A CRL signed by the test CA key, listing `revs` in order (reasonCode 0: no reason extension, as Puppet's tool may write). */
async function crlPem(revs: RevocationRequest[]): Promise<string> {
  const next = new Date("2031-11-22T03:17:34Z");
  const state = withRevocations(emptyCrlState(cnName("Test CA"), Buffer.alloc(20, 7), T0, next), revs, T0, next);
  return crlToPem(await signCrl(state, caKey));
}

async function newCa(crl?: string): Promise<{ cadir: string; store: FileStore }> {
  const root = mkdtempSync(join(tmpdir(), "fleetca-records-"));
  roots.push(root);
  const cadir = join(root, "ca");
  const material: CaMaterial = {
    certPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
    keyPem: `-----BEGIN ${"EC PRIVATE"} KEY-----\nKEY\n-----END ${"EC PRIVATE"} KEY-----\n`,
    publicKeyPem: "-----BEGIN PUBLIC KEY-----\nPUB\n-----END PUBLIC KEY-----\n",
    crlPem: crl ?? (await crlPem([])),
  };
  const store = new FileStore(cadir);
  await store.initialize(material, { firstSerial: 1n });
  return { cadir, store };
}

function audit(action: AuditRecord["action"], names: string[], time: Date, extra: Partial<AuditRecord> = {}): AuditRecord {
  return { time: time.toISOString(), action, outcome: "ok", names, serials: [], who: "local:root", whoKind: "local", from: "cli", ...extra };
}

function cert(name: string, serial: bigint): { certPem: string; inventory: InventoryEntry; entry: IndexEntry } {
  const notAfter = new Date("2031-11-22T03:17:34Z");
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`,
    inventory: { serial, notBefore: T0, notAfter, subject: `/CN=${name}` },
    entry: { name, state: "signed", sha256: `SHA-${name}`, altNames: [`DNS:${name}`], authExtensions: {}, serial, notBefore: T0, notAfter },
  };
}

function revocation(serial: bigint, name: string, reason: RevocationReason = "keyCompromise", by = "local:root", s = 0): RevocationRecord {
  return { serial, name, revokedAt: at(s), reason, by };
}

const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");

describe("FileStore audit.log", () => {
  it("appends JSON lines (0640) and reads them back oldest first, filtered and limited to the most recent", async () => {
    const { cadir, store } = await newCa();
    assert.deepEqual(await store.readAudit({}), [], "no audit.log yet: no records");
    // Many callers at once: they share writes, and every record lands whole.
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.appendAudit([audit(i % 2 ? "signed" : "submitted", [`n${i}.example.com`], at(i))])));
    await store.appendAudit([audit("revoked", ["n3.example.com"], at(100), { serials: ["1F"], detail: "keyCompromise", who: "cert:admin", whoKind: "certificate", from: "10.0.0.1" })]);
    const path = join(cadir, "audit.log");
    assert.equal(mode(path), 0o640);
    assert.equal(lines(path).length, 41);
    for (const l of lines(path)) assert.ok(JSON.parse(l).time, l);

    const all = await store.readAudit({});
    assert.equal(all.length, 41);
    assert.deepEqual(all.map((r) => r.time), [...all.map((r) => r.time)].sort(), "oldest first");
    const revoked = await store.readAudit({ action: "revoked" });
    assert.deepEqual(revoked, [audit("revoked", ["n3.example.com"], at(100), { serials: ["1F"], detail: "keyCompromise", who: "cert:admin", whoKind: "certificate", from: "10.0.0.1" })]);
    assert.deepEqual((await store.readAudit({ name: "n3.example.com" })).map((r) => r.action), ["signed", "revoked"]);
    assert.deepEqual(await store.readAudit({ name: "n3.example" }), [], "a name matches whole, not as a substring");
    assert.equal((await store.readAudit({ since: at(30) })).length, 11);
    assert.deepEqual((await store.readAudit({ action: "submitted", limit: 3 })).map((r) => r.names[0]), ["n34.example.com", "n36.example.com", "n38.example.com"]);
    assert.deepEqual(await store.readAudit({ limit: 0 }), []);
  });

  it("skips a torn last line and damaged lines, and keeps records written after a torn one", async () => {
    const { cadir, store } = await newCa();
    const path = join(cadir, "audit.log");
    await store.appendAudit([audit("signed", ["a"], at(1)), audit("signed", ["b"], at(2))]);
    appendFileSync(path, "this is not json\n");
    appendFileSync(path, '{"time":"2026-11-22T03:20:00.000Z","action":"signed","outco'); // a crash mid-write
    assert.deepEqual((await store.readAudit({})).map((r) => r.names[0]), ["a", "b"]);
    await store.appendAudit([audit("revoked", ["c"], at(3))]);
    assert.deepEqual((await store.readAudit({})).map((r) => r.names[0]), ["a", "b", "c"]);
    assert.deepEqual((await store.readAudit({ limit: 1 })).map((r) => r.names[0]), ["c"]);
  });

  it("reads a log larger than one read chunk, from the end", async () => {
    const { store } = await newCa();
    const detail = "x".repeat(300);
    const batch = Array.from({ length: 5000 }, (_, i) => audit("signed", [`host${i}`], at(i), { detail }));
    await store.appendAudit(batch);
    const all = await store.readAudit({});
    assert.equal(all.length, 5000);
    assert.equal(all[0]!.names[0], "host0");
    assert.equal(all[4999]!.names[0], "host4999");
    assert.deepEqual((await store.readAudit({ limit: 2 })).map((r) => r.names[0]), ["host4998", "host4999"]);
    assert.deepEqual((await store.readAudit({ name: "host7" })).map((r) => r.names[0]), ["host7"]);
  });

  it("writes putRequest's and commitSigned's records with them", async () => {
    const { store } = await newCa();
    await Promise.all(
      ["a", "b", "c"].map((n) =>
        store.putRequest(n, `-----BEGIN CERTIFICATE REQUEST-----\n${n}\n-----END CERTIFICATE REQUEST-----\n`, { name: n, state: "requested", sha256: `CSR-${n}`, altNames: [], authExtensions: {} }, audit("submitted", [n], at(1))),
      ),
    );
    assert.ok(await store.getRequest("b"));
    await store.withLock(() =>
      store.commitSigned([
        { name: "a", ...cert("a", 2n), audit: audit("signed", ["a"], at(2), { serials: ["2"] }) },
        { name: "b", ...cert("b", 3n), audit: audit("signed", ["b"], at(2), { serials: ["3"] }) },
      ]),
    );
    assert.equal(await store.getRequest("a"), undefined);
    assert.ok(await store.getCertificate("b"));
    assert.deepEqual((await store.readAudit({ action: "submitted" })).map((r) => r.names[0]).sort(), ["a", "b", "c"]);
    assert.deepEqual((await store.readAudit({ action: "signed" })).map((r) => r.serials[0]), ["2", "3"]);
  });

  it("writes each certificate whole where its request was, never through a request file linked from elsewhere", async () => {
    const { cadir, store } = await newCa();
    const csr = (n: string, body = n) => `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n`;
    const requested = (n: string) => ({ name: n, state: "requested" as const, sha256: `CSR-${n}`, altNames: [], authExtensions: {} });
    // a: a request longer than its certificate (the certificate file must not keep its tail).
    await store.putRequest("a", csr("a", "x".repeat(3000)), requested("a"));
    await store.putRequest("b", csr("b"), requested("b"));
    await store.putRequest("c", csr("c"), requested("c"));
    // b: an operator's hard link to the request; c: a symbolic link put there by another tool.
    const { linkSync, symlinkSync } = await import("node:fs");
    const outside = join(cadir, "..");
    linkSync(join(cadir, "requests", "b.pem"), join(outside, "b-copy.pem"));
    writeFileSync(join(outside, "c-target.pem"), csr("c"));
    unlinkSync(join(cadir, "requests", "c.pem"));
    symlinkSync(join(outside, "c-target.pem"), join(cadir, "requests", "c.pem"));
    await store.withLock(() => store.commitSigned(["a", "b", "c"].map((n, i) => ({ name: n, ...cert(n, BigInt(i + 2)) }))));
    for (const n of ["a", "b", "c"]) {
      assert.equal(readFileSync(join(cadir, "signed", `${n}.pem`), "utf8"), cert(n, 2n).certPem, n);
      assert.equal(mode(join(cadir, "signed", `${n}.pem`)), 0o644, n);
      assert.equal(existsSync(join(cadir, "requests", `${n}.pem`)), false, n);
    }
    assert.equal(readFileSync(join(outside, "b-copy.pem"), "utf8"), csr("b"), "the hard link still holds the request");
    assert.equal(readFileSync(join(outside, "c-target.pem"), "utf8"), csr("c"), "the link's target is untouched");
    assert.deepEqual([...readdirSync(join(cadir, "signed")), ...readdirSync(join(cadir, "requests"))].sort(), ["a.pem", "b.pem", "c.pem"]);
    const fresh = new FileStore(cadir);
    assert.deepEqual((await fresh.listIndex(summarize)).map((e) => `${e.name}:${e.state}`), ["a:signed", "b:signed", "c:signed"]);
  });
});

describe("FileStore revocation records", () => {
  it("lists records in the order recorded, one tab-separated line each, with the audit lines", async () => {
    const { cadir, store } = await newCa();
    await store.withLock(() => store.putRevocations([revocation(0x1fn, "a.example.com", "keyCompromise", "cert:admin", 1)], [audit("revoked", ["a.example.com"], at(1))]));
    await store.withLock(() =>
      store.putRevocations([revocation(0x2n, "b.example.com", "superseded", "local:root", 2), revocation(0x1abcdefn, "c.example.com", "cessationOfOperation", "session:alice", 3)], []),
    );
    const path = join(cadir, "fleetca_revocations.tsv");
    assert.equal(mode(path), 0o640);
    assert.deepEqual(lines(path).filter((l) => !l.startsWith("#")), [
      `1F\ta.example.com\t${at(1).toISOString()}\tkeyCompromise\tcert:admin`,
      `2\tb.example.com\t${at(2).toISOString()}\tsuperseded\tlocal:root`,
      `1ABCDEF\tc.example.com\t${at(3).toISOString()}\tcessationOfOperation\tsession:alice`,
    ]);
    assert.deepEqual(await store.listRevocations(), [
      revocation(0x1fn, "a.example.com", "keyCompromise", "cert:admin", 1),
      revocation(0x2n, "b.example.com", "superseded", "local:root", 2),
      revocation(0x1abcdefn, "c.example.com", "cessationOfOperation", "session:alice", 3),
    ]);
    assert.deepEqual(await store.getRevocation(2n), revocation(0x2n, "b.example.com", "superseded", "local:root", 2));
    assert.equal(await store.getRevocation(3n), undefined);
    assert.deepEqual((await store.readAudit({ action: "revoked" })).map((r) => r.names[0]), ["a.example.com"]);
    // A fresh process reads the same.
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", childList(cadir)]);
    assert.deepEqual(JSON.parse(stdout), [["1F", "a.example.com", "keyCompromise"], ["2", "b.example.com", "superseded"], ["1ABCDEF", "c.example.com", "cessationOfOperation"]]);
  });

  it("escapes tabs and line breaks in names and labels, and refuses records it cannot write faithfully", async () => {
    const { cadir, store } = await newCa();
    const odd = revocation(5n, "evil\tname\nwith\\breaks\r\u0001", "unspecified", "session:bob\t\n");
    await store.withLock(() => store.putRevocations([odd], []));
    const body = lines(join(cadir, "fleetca_revocations.tsv")).filter((l) => !l.startsWith("#"));
    assert.equal(body.length, 1);
    assert.equal(body[0]!.split("\t").length, 5);
    assert.deepEqual(await store.getRevocation(5n), odd);
    const bad = { ...revocation(6n, "x"), reason: "becauseISaidSo" as RevocationReason };
    const refusedAudit = [audit("revoked", ["x"], at(1))];
    await assert.rejects(store.withLock(() => store.putRevocations([bad], refusedAudit)), /Unknown revocation reason/);
    await assert.rejects(store.withLock(() => store.putRevocations([revocation(-1n, "x")], refusedAudit)), /non-negative serial/);
    assert.equal((await store.listRevocations()).length, 1, "nothing of a refused call was written");
    assert.deepEqual(await store.readAudit({ name: "x" }), [], "not even its audit lines");
  });

  it("skips a torn last line, and a record written after it survives", async () => {
    const { cadir, store } = await newCa();
    const path = join(cadir, "fleetca_revocations.tsv");
    await store.withLock(() => store.putRevocations([revocation(1n, "a")], []));
    // A crash cut the next record inside its last field: it would parse, but it is not whole.
    appendFileSync(path, `2\tb\t${at(0).toISOString()}\tkeyCompromise\tlocal:ro`);
    const fresh = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", childList(join(cadir))]);
    assert.deepEqual(JSON.parse(fresh.stdout), [["1", "a", "keyCompromise"]]);
    await store.withLock(() => store.putRevocations([revocation(3n, "c")], []));
    assert.deepEqual((await store.listRevocations()).map((r) => r.serial), [1n, 3n]);
    const again = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", childList(join(cadir))]);
    assert.deepEqual(JSON.parse(again.stdout).map((r: string[]) => r[0]), ["1", "3"], "the torn fragment stays unreadable");
  });

  it("rebuilds a deleted file from the CRL, with names from the inventory and reasons from the entries", async () => {
    const { cadir, store } = await newCa();
    for (const [name, serial] of [["alpha", 2n], ["beta", 3n], ["gamma", 4n]] as const) {
      const c = cert(name, serial);
      await store.putCertificate(name, c.certPem, c.inventory, c.entry);
    }
    await store.putCrl(
      await crlPem([
        { serial: 2n, when: at(10) }, // keyCompromise, as Puppet revokes
        { serial: 4n, when: at(20), reasonCode: 0 }, // no reason extension at all
        { serial: 3n, when: at(30), reasonCode: 4 },
        { serial: 0x99n, when: at(40), reasonCode: 5 }, // not in the inventory
      ]),
    );
    const path = join(cadir, "fleetca_revocations.tsv");
    assert.equal(existsSync(path), false);
    const expected = [
      { serial: 2n, name: "alpha", revokedAt: at(10), reason: "keyCompromise", by: "crl" },
      { serial: 4n, name: "gamma", revokedAt: at(20), reason: "unspecified", by: "crl" },
      { serial: 3n, name: "beta", revokedAt: at(30), reason: "superseded", by: "crl" },
      { serial: 0x99n, name: "", revokedAt: at(40), reason: "cessationOfOperation", by: "crl" },
    ];
    assert.deepEqual(await store.listRevocations(), expected);
    assert.ok(existsSync(path), "the rebuilt records are kept");
    assert.equal(mode(path), 0o640);
    assert.equal(lines(path).filter((l) => !l.startsWith("#")).length, 4);
    // Deleted again while the store runs: rebuilt again, and a fresh process reads the same file.
    unlinkSync(path);
    assert.deepEqual(await store.getRevocation(3n), expected[2]);
    assert.ok(existsSync(path));
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", childList(cadir)]);
    assert.deepEqual(JSON.parse(stdout), [["2", "alpha", "keyCompromise"], ["4", "gamma", "unspecified"], ["3", "beta", "superseded"], ["99", "", "cessationOfOperation"]]);
    assert.deepEqual(readdirSync(cadir).filter((f) => f.includes("fleetca-tmp")), []);
  });

  it("rebuilds before the first record when the file is missing, so the CRL's entries come first", async () => {
    const { store } = await newCa(await crlPem([{ serial: 7n, when: at(1) }]));
    await store.withLock(() => store.putRevocations([revocation(8n, "new")], []));
    assert.deepEqual((await store.listRevocations()).map((r) => [r.serial, r.by]), [[7n, "crl"], [8n, "local:root"]]);
  });

  it("takes in serials the CRL lists and the records lack (Puppet's own tool revoked them)", async () => {
    const { cadir, store } = await newCa();
    const c = cert("puppet-revoked", 0x10n);
    await store.putCertificate("puppet-revoked", c.certPem, c.inventory, c.entry);
    await store.withLock(() => store.putRevocations([revocation(0x0fn, "ours", "keyCompromise", "local:root", 5)], []));
    await store.putCrl(await crlPem([{ serial: 0x0fn, when: at(5) }]));
    assert.deepEqual((await store.listRevocations()).map((r) => r.serial), [0x0fn]);
    // `puppetserver ca revoke` rewrites the CRL with one more entry.
    await store.putCrl(await crlPem([{ serial: 0x0fn, when: at(5) }, { serial: 0x10n, when: at(6) }]));
    assert.deepEqual(await store.getRevocation(0x10n), { serial: 0x10n, name: "puppet-revoked", revokedAt: at(6), reason: "keyCompromise", by: "crl" });
    assert.equal((await store.getRevocation(0x0fn))?.by, "local:root", "the record fleetca made stands");
    const body = lines(join(cadir, "fleetca_revocations.tsv")).filter((l) => !l.startsWith("#"));
    assert.equal(body.length, 2, "the CRL's extra serial is recorded once");
    // A CRL that is not an extension of the last one (entries in another order) is checked whole.
    await store.putCrl(await crlPem([{ serial: 0x11n, when: at(7) }, { serial: 0x10n, when: at(6) }, { serial: 0x0fn, when: at(5) }]));
    assert.deepEqual((await store.listRevocations()).map((r) => r.serial), [0x0fn, 0x10n, 0x11n]);
  });

  it("sees another process's revocation on the next call", async () => {
    const { cadir, store } = await newCa();
    await store.withLock(() => store.putRevocations([revocation(1n, "first")], []));
    assert.equal(await store.getRevocation(0x42n), undefined, "loaded, and 42 is not revoked");
    const code = `
      import { FileStore } from ${JSON.stringify(storeModule)};
      const store = new FileStore(${JSON.stringify(cadir)});
      await store.withLock(() => store.putRevocations(
        [{ serial: 0x42n, name: "cli-revoked", revokedAt: new Date(${at(9).getTime()}), reason: "superseded", by: "local:operator" }],
        [{ time: ${JSON.stringify(at(9).toISOString())}, action: "revoked", outcome: "ok", names: ["cli-revoked"], serials: ["42"], who: "local:operator", whoKind: "local", from: "cli" }],
      ));`;
    await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code]);
    assert.deepEqual(await store.getRevocation(0x42n), { serial: 0x42n, name: "cli-revoked", revokedAt: at(9), reason: "superseded", by: "local:operator" });
    assert.deepEqual((await store.listRevocations()).map((r) => r.name), ["first", "cli-revoked"]);
    assert.deepEqual((await store.readAudit({ name: "cli-revoked" })).map((r) => r.who), ["local:operator"]);
  });

  it("moves the records of a CA being replaced aside: the new CA issues those serials again", async () => {
    const { cadir, store } = await newCa();
    await store.withLock(() => store.putRevocations([revocation(2n, "old")], []));
    assert.ok(await store.getRevocation(2n));
    await store.initialize(
      { certPem: "-----BEGIN CERTIFICATE-----\nCA2\n-----END CERTIFICATE-----\n", keyPem: "k", publicKeyPem: "p", crlPem: await crlPem([]) },
      { firstSerial: 1n, overwrite: true },
    );
    assert.equal(await store.getRevocation(2n), undefined);
    assert.deepEqual(await store.listRevocations(), []);
    assert.equal(readdirSync(cadir).filter((f) => f.startsWith("fleetca_revocations.tsv.replaced-")).length, 1);
  });
});

describe("FileStore findBySerial", () => {
  it("finds the current certificate by serial, and nothing once it is replaced or deleted", async () => {
    const { store } = await newCa();
    assert.equal(await store.findBySerial(2n, summarize), undefined);
    await store.withLock(() => store.commitSigned([{ name: "a", ...cert("a", 2n), removeRequest: false }, { name: "b", ...cert("b", 3n), removeRequest: false }]));
    assert.equal((await store.findBySerial(2n, summarize))?.name, "a");
    assert.equal((await store.findBySerial(3n, summarize))?.name, "b");
    // Renewed: the name holds a new serial; the old one is no one's.
    await store.withLock(() => store.commitSigned([{ name: "a", ...cert("a", 4n), removeRequest: false }]));
    assert.equal(await store.findBySerial(2n, summarize), undefined);
    assert.equal((await store.findBySerial(4n, summarize))?.serial, 4n);
    assert.equal(await store.deleteCertificate("b"), true);
    assert.equal(await store.findBySerial(3n, summarize), undefined);
    // Another process signs: seen through the journal.
    const code = `
      import { FileStore } from ${JSON.stringify(storeModule)};
      const store = new FileStore(${JSON.stringify(store.location)});
      await store.putCertificate("c", "-----BEGIN CERTIFICATE-----\\nc\\n-----END CERTIFICATE-----\\n",
        { serial: 5n, notBefore: new Date(0), notAfter: new Date(1e12), subject: "/CN=c" },
        { name: "c", state: "signed", sha256: "SHA-c", altNames: [], authExtensions: {}, serial: 5n, notBefore: new Date(0), notAfter: new Date(1e12) });`;
    await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code]);
    assert.equal((await store.findBySerial(5n, summarize))?.name, "c");
  });
});

describe("FileStore records at 100,000", () => {
  it("loads 100,000 revocation records and rebuilds them from a 100,000-entry CRL (timings printed)", async () => {
    const n = 100_000;
    const revs: RevocationRequest[] = Array.from({ length: n }, (_, i) => ({ serial: BigInt(i + 2), when: at(i), reasonCode: i % 7 === 0 ? 0 : 1 }));
    const crl = await crlPem(revs);
    const { cadir } = await newCa(crl);
    // Written the way putRevocations writes them, a CA's worth, then loaded cold by a new process.
    const records = revs.map((r, i) => revocation(r.serial, `node${i}.example.com`, "keyCompromise", "local:root", i));
    writeFileSync(join(cadir, "fleetca_revocations.tsv"), records.map(encodeRecord).join(""));
    writeFileSync(join(cadir, "inventory.txt"), records.map((r) => formatInventoryLine({ serial: r.serial, notBefore: T0, notAfter: at(1e8), subject: `/CN=${r.name}` })).join(""));
    const code = `
      import { unlinkSync } from "node:fs";
      import { FileStore } from ${JSON.stringify(storeModule)};
      const cadir = ${JSON.stringify(cadir)};
      let t = performance.now();
      const store = new FileStore(cadir);
      const list = await store.listRevocations();
      const load = performance.now() - t;
      t = performance.now();
      let hits = 0;
      for (let i = 0; i < 10000; i++) if (await store.getRevocation(BigInt(2 + ((i * 7919) % ${n})))) hits++;
      const lookups = (performance.now() - t) / 10000;
      unlinkSync(cadir + "/fleetca_revocations.tsv");
      t = performance.now();
      const rebuilt = await new FileStore(cadir).listRevocations();
      const rebuild = performance.now() - t;
      console.log(JSON.stringify({ records: list.length, load, hits, lookups, rebuilt: rebuilt.length, rebuild, sample: [rebuilt[7].name, rebuilt[7].reason, rebuilt[8].reason] }));`;
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout) as { records: number; load: number; hits: number; lookups: number; rebuilt: number; rebuild: number; sample: string[] };
    console.log(`100,000 revocation records: cold load (file + CRL check) ${r.load.toFixed(0)} ms; getRevocation ${(r.lookups * 1000).toFixed(1)} us; rebuild from the CRL + inventory ${r.rebuild.toFixed(0)} ms`);
    assert.equal(r.records, n);
    assert.equal(r.hits, 10000);
    assert.equal(r.rebuilt, n);
    assert.deepEqual(r.sample, ["node7.example.com", "unspecified", "keyCompromise"]);
  });
});

/** A child process's view: [serial hex, name, reason] of every record, from a fresh store. */
function childList(cadir: string): string {
  return `
    import { FileStore } from ${JSON.stringify(storeModule)};
    const records = await new FileStore(${JSON.stringify(cadir)}).listRevocations();
    console.log(JSON.stringify(records.map((r) => [r.serial.toString(16).toUpperCase(), r.name, r.reason])));`;
}
