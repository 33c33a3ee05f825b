/**
 * The PostgreSQL store under the real CA: two CertificateAuthority instances on two
 * connections play two CA servers sharing one CA; every certificate is checked by
 * `openssl verify -crl_check`. Runs against a throwaway cluster (scripts/pg-test-server.sh).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { CertificateAuthority, type CaSettings } from "../src/ca/authority.js";
import { CaError } from "../src/ca/errors.js";
import { auditRecord } from "../src/ca/audit.js";
import { localPrincipal } from "../src/ca/principal.js";
import { setupCa } from "../src/ca/setup.js";
import { StoreConflictError } from "../src/ca/store.js";
import { summarize } from "../src/ca/summarize.js";
import { FileStore } from "../src/store/file/index.js";
import { openStore } from "../src/store/open.js";
import { PostgresStore } from "../src/store/postgres/index.js";
import { SCHEMA_VERSION } from "../src/store/postgres/migrations.js";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { tmpDir, verifyWithCrl } from "./helpers/openssl.js";
import { pgUnavailable, startPg, type PgServer } from "./helpers/pg-server.js";

const skip = pgUnavailable();
if (skip) console.log(`# SKIP store-postgres: ${skip}`);

const settings: CaSettings = { caTtl: 365 * 86_400, allowSubjectAltNames: true, allowAuthorizationExtensions: true, allowDuplicateCerts: false };
const by = localPrincipal("test", "pg-test");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}.example.com`);

describe("PostgreSQL store", { skip }, () => {
  let server: PgServer;
  let a: PostgresStore;
  let b: PostgresStore;
  let caA: CertificateAuthority;
  let caB: CertificateAuthority;
  let sql: pg.Client;

  before(async () => {
    server = await startPg();
    // Two CA servers starting at once against an empty database both migrate it.
    [a, b] = await Promise.all([PostgresStore.open(server.url), PostgresStore.open(server.url)]);
    caA = new CertificateAuthority({ store: a, settings });
    caB = new CertificateAuthority({ store: b, settings });
    sql = new pg.Client({ connectionString: server.url });
    await sql.connect();
  });

  after(async () => {
    await sql?.end();
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  async function submit(ca: CertificateAuthority, list: string[]): Promise<void> {
    for (const n of list) await ca.submitRequest(n, opensslCsr(n, { san: `DNS:${n}` }).csrPem, by);
  }

  async function verify(ca: CertificateAuthority, name: string) {
    return verifyWithCrl(await ca.caCertificatePem(), await ca.crlPem(), await ca.getCertificatePem(name));
  }

  test("the schema is created once, the location hides the password, and a wrong password is reported without it", async () => {
    const { rows } = await sql.query("SELECT version FROM fleetca.schema_migrations ORDER BY version");
    assert.deepEqual(rows, allVersions());
    const again = await PostgresStore.open(server.url);
    await again.close();
    const password = new URL(server.url).password;
    assert.ok(password.length > 0);
    assert.ok(!a.location.includes(password), a.location);
    assert.match(a.location, /^postgres:\/\/fleetca@127\.0\.0\.1:\d+\/fleetca$/);
    const wrong = server.url.replace(`:${password}@`, ":not-the-password@");
    await assert.rejects(PostgresStore.open(wrong), (e: Error) => /password authentication failed/.test(e.message) && !e.message.includes("not-the-password"));
  });

  test("setup stores the CA once; a second setup or initialize is refused", async () => {
    assert.equal(await a.isInitialized(), false);
    assert.equal(await b.materialVersion(), "absent");
    await setupCa(a, { caName: "Puppet CA: pg.example.com", key: { type: "ec", curve: "P-256" }, caTtl: 5 * 365 * 86_400, now: new Date() });
    assert.equal(await b.isInitialized(), true);
    assert.equal(await b.peekSerial(), 2n);
    assert.match(await b.materialVersion(), /^[0-9a-f-]{36}:1$/);
    await assert.rejects(setupCa(b, { caName: "other", key: { type: "ec", curve: "P-256" }, caTtl: 86_400, now: new Date() }), (e: CaError) => e.kind === "already-initialized");
    await assert.rejects(b.initialize(await b.loadCaMaterial(), { firstSerial: 2n }), StoreConflictError);
  });

  test("submit, sign, revoke and clean through one server; openssl verifies against the CRL", async () => {
    await submit(caA, ["one.example.com", "two.example.com"]);
    assert.equal((await caA.status("one.example.com")).state, "requested");
    await assert.rejects(caA.submitRequest("one.example.com", opensslCsr("one.example.com").csrPem, by), (e: CaError) => e.kind === "duplicate-cert");
    const cert = await caA.sign("one.example.com", { by });
    assert.equal(cert.serial, 2n);
    await caA.sign("two.example.com", { by });
    const ok = await verify(caA, "one.example.com");
    assert.ok(ok.ok, ok.out);
    await caA.revoke(["one.example.com"], by);
    const revoked = await verify(caA, "one.example.com");
    assert.equal(revoked.ok, false);
    assert.match(revoked.out, /certificate revoked/);
    await caA.clean(["two.example.com"], by);
    await assert.rejects(caA.status("two.example.com"), (e: CaError) => e.kind === "not-found");
    assert.equal((await verify(caA, "one.example.com")).ok, false, "still revoked after another clean");
    // Records and audit rows, written by the CA through the store, seen by the other server.
    assert.deepEqual((await b.listRevocations()).map((r) => [r.serial, r.name, r.reason, r.by]), [
      [2n, "one.example.com", "keyCompromise", "cli:test@pg-test"],
      [3n, "two.example.com", "keyCompromise", "cli:test@pg-test"],
    ]);
    assert.deepEqual((await b.readAudit({ name: "one.example.com" })).map((r) => [r.action, r.outcome]), [
      ["submitted", "ok"], ["submitted", "refused"], ["signed", "ok"], ["revoked", "ok"],
    ]);
    assert.equal((await b.findBySerial(2n, summarize))?.name, "one.example.com");
    assert.equal(await b.findBySerial(3n, summarize), undefined, "cleaned");
    const inv = await a.readInventory();
    assert.deepEqual(inv.map((e) => [e.serial, e.subject]), [[1n, "/CN=Puppet CA: pg.example.com"], [2n, "/CN=one.example.com"], [3n, "/CN=two.example.com"]]);
  });

  test("two servers signing at once issue distinct serials, and each sees the other's certificates", async () => {
    const first = await a.peekSerial();
    const fromA = names("a", 10);
    const fromB = names("b", 10);
    await Promise.all([submit(caA, fromA), submit(caB, fromB)]);
    // Each server signs the other's requests as well as its own, concurrently.
    const [ra, rb] = await Promise.all([caA.signMany([...fromA.slice(0, 5), ...fromB.slice(5)], { by }), caB.signMany([...fromB.slice(0, 5), ...fromA.slice(5)], { by })]);
    assert.deepEqual([...ra, ...rb].filter((r) => r.error), []);
    const serials = (await b.readInventory()).map((e) => e.serial).filter((s) => s >= first);
    assert.equal(serials.length, 20);
    assert.equal(new Set(serials).size, 20, "no serial issued twice");
    assert.equal(await a.peekSerial(), first + 20n);
    for (const n of [...fromA, ...fromB]) {
      const r = await verify(n.startsWith("a") ? caB : caA, n);
      assert.ok(r.ok, `${n}: ${r.out}`);
    }
  });

  test("a revoke through one server is seen by the other through the material version", async () => {
    const before = await b.materialVersion();
    await caB.statuses(); // caB has now loaded the CRL as of `before`
    await caA.revoke(["a0.example.com"], by);
    assert.notEqual(await b.materialVersion(), before);
    await sleep(300); // past the CA's 250 ms version-poll interval
    const revoked = (await caB.statuses("revoked")).map((s) => s.name);
    assert.deepEqual(revoked, ["a0.example.com", "one.example.com"]);
    assert.match((await verify(caB, "a0.example.com")).out, /certificate revoked/);
    // Revokes on both servers at once: each re-reads the CRL under the lock, so none is lost.
    await Promise.all([caA.revoke(["a1.example.com", "b1.example.com"], by), caB.revoke(["a2.example.com", "b2.example.com"], by)]);
    // Each server's cached CRL may be up to one poll interval old; ask both to check now.
    await Promise.all([caA.current(true), caB.current(true)]);
    const now = (await caA.statuses("revoked")).map((s) => s.name);
    assert.deepEqual(now, ["a0.example.com", "a1.example.com", "a2.example.com", "b1.example.com", "b2.example.com", "one.example.com"]);
    for (const n of ["a1.example.com", "b2.example.com"]) assert.match((await verify(caB, n)).out, /certificate revoked/);
    assert.ok((await verify(caB, "a3.example.com")).ok);
  });

  test("statuses list requests and certificates by name, and clean through one server is seen by the other", async () => {
    await submit(caB, ["pending.example.com"]);
    await caB.clean(["b9.example.com"], by);
    const all = await caA.statuses();
    const listed = all.map((s) => s.name);
    assert.deepEqual(listed, [...listed].sort());
    assert.equal(all.find((s) => s.name === "pending.example.com")?.state, "requested");
    assert.equal(all.find((s) => s.name === "a3.example.com")?.state, "signed");
    assert.deepEqual(all.find((s) => s.name === "a3.example.com")?.dns_alt_names, ["DNS:a3.example.com"]);
    assert.ok(!listed.includes("b9.example.com"));
    assert.deepEqual(await a.getIndexEntry("b9.example.com", summarize), {});
    // The CLI reaches the same CA through --store (src/store/open.ts).
    const cli = await fleetca(["ca", "list", "--all", "--store", server.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /"pending\.example\.com"/);
    assert.match(cli.stdout, /- "a0\.example\.com"/);
  });

  test("rows inserted bare by another tool are summarized from their PEM", async () => {
    const csr = opensslCsr("foreign.example.com", { san: "DNS:foreign.example.com,IP:10.0.0.1" }).csrPem;
    await sql.query("INSERT INTO fleetca.requests (name, pem) VALUES ($1, $2)", ["foreign.example.com", csr]);
    await sql.query("INSERT INTO fleetca.requests (name, pem) VALUES ($1, $2)", ["garbage.example.com", "not a pem"]);
    const { request } = await b.getIndexEntry("foreign.example.com", summarize);
    assert.deepEqual(request?.altNames, ["DNS:foreign.example.com", "IP:10.0.0.1"]);
    assert.ok(!(await b.listIndex(summarize)).some((e) => e.name === "garbage.example.com"), "unreadable rows are not listed");
    const { rows } = await sql.query("SELECT sha256 FROM fleetca.requests WHERE name = $1", ["foreign.example.com"]);
    assert.equal(rows[0].sha256, request?.sha256, "the summary was saved");
    await caA.sign("foreign.example.com", { by });
    assert.ok((await verify(caB, "foreign.example.com")).ok);
  });

  test("the inventory is append-only", async () => {
    await assert.rejects(sql.query("DELETE FROM fleetca.inventory"), /append-only/);
    await assert.rejects(sql.query("UPDATE fleetca.inventory SET subject = 'x'"), /append-only/);
  });

  test("withLock excludes across servers, is not re-entrant, and dies with its holder's connection", async () => {
    const spans: [number, number][] = [];
    const hold = (s: PostgresStore) => s.withLock(async () => {
      const t = performance.now();
      await sleep(100);
      spans.push([t, performance.now()]);
    });
    await Promise.all([hold(a), hold(b), hold(a), hold(b)]);
    spans.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], "no two holders overlap");
    await assert.rejects(a.withLock(() => a.withLock(async () => 1)), /not re-entrant/);

    // A holder whose session is killed (a crashed server) frees the lock: no stale lock to clean up.
    let release!: () => void;
    const held = a.withLock(() => new Promise<void>((r) => (release = r)));
    await sleep(100);
    await sql.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1", [0x74636101]);
    // A lock left held would hang here until the test's timeout: entering at all is the check.
    assert.equal(await b.withLock(async () => "entered"), "entered");
    release();
    await assert.rejects(held, /failed while the lock was held/);
    assert.equal(await a.withLock(async () => "again"), "again", "the store recovers");
  });

  test("the batch capability: consecutive serials in one update, many certificates in one all-or-nothing statement", async () => {
    const next = await a.peekSerial();
    assert.equal(await a.withLock(() => a.allocateSerials(5)), next);
    assert.equal(await b.peekSerial(), next + 5n);
    const when = new Date("2026-01-02T03:04:05Z");
    const item = (name: string, serial: bigint, subject = `/CN=${name}`) => ({
      name,
      certPem: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`,
      inventory: { serial, notBefore: when, notAfter: when, subject },
      entry: { name, state: "signed" as const, sha256: `SHA-${name}`, altNames: [`DNS:${name}`], authExtensions: { pp_auth_role: "x" }, serial, notBefore: when, notAfter: when },
    });
    await submit(caA, ["batch1.example.com"]);
    const before = (await a.readInventory()).length;
    await a.commitSigned([item("batch1.example.com", next), item("batch2.example.com", next + 1n)]);
    assert.equal(await b.getRequest("batch1.example.com"), undefined, "the request is gone");
    const { certificate } = await b.getIndexEntry("batch2.example.com", summarize);
    assert.deepEqual(certificate, item("batch2.example.com", next + 1n).entry);
    assert.deepEqual((await b.readInventory()).slice(before).map((e) => e.serial), [next, next + 1n]);
    // A duplicate name fails the whole statement: nothing of the batch is written.
    await assert.rejects(a.commitSigned([item("batch3.example.com", next + 2n), item("batch3.example.com", next + 3n)]));
    assert.equal(await b.getCertificate("batch3.example.com"), undefined);
    assert.equal((await b.readInventory()).length, before + 2);
    await assert.rejects(a.commitSigned([item("batch4.example.com", next + 4n, "/CN=x\n0x0001 forged")]), /line break/);
    for (const n of ["batch1.example.com", "batch2.example.com"]) await b.deleteCertificate(n);
  });

  test("reserved serials go back only while nobody allocated after them", async () => {
    const next = await a.peekSerial();
    const first = await a.withLock(() => a.allocateSerials(10));
    assert.equal(await a.withLock(() => a.returnSerials(first + 3n, first + 10n)), true, "the counter stood at the block's end");
    assert.equal(await b.peekSerial(), next + 3n);
    const again = await a.withLock(() => a.allocateSerials(10));
    await b.withLock(() => b.allocateSerials(1)); // another server takes one after the block
    assert.equal(await a.withLock(() => a.returnSerials(again + 5n, again + 10n)), false);
    assert.equal(await b.peekSerial(), again + 11n, "the other server's serial is never handed out again");
  });

  test("a file CA moves into PostgreSQL whole, and serials continue after it", async () => {
    const dir = tmpDir();
    const file = new FileStore(`${dir}/ca`);
    await setupCa(file, { caName: "Puppet CA: old.example.com", key: { type: "ec", curve: "P-256" }, caTtl: 5 * 365 * 86_400, now: new Date() });
    const old = new CertificateAuthority({ store: file, settings });
    await submit(old, ["kept.example.com", "gone.example.com", "bad.example.com", "waiting.example.com"]);
    await old.signMany(["kept.example.com", "gone.example.com", "bad.example.com"], { by });
    await old.revoke(["bad.example.com"], by);
    await old.clean(["gone.example.com"], by);
    await sql.query("CREATE DATABASE fleetca_import");
    const target = await PostgresStore.open(server.url.replace(/\/fleetca$/, "/fleetca_import"));
    try {
      const counts = await target.importFrom(file, summarize);
      const audit = await file.readAudit({});
      assert.deepEqual(counts, { requests: 1, certificates: 2, inventory: 4, revocations: 2, audit: audit.length, nextSerial: 5n }, "inventory: the CA's line and three certificates; revoked: bad, and gone by its clean");
      assert.deepEqual(await target.readInventory(), await file.readInventory());
      assert.deepEqual(await target.listRevocations(), await file.listRevocations());
      assert.deepEqual(await target.readAudit({}), audit);
      assert.deepEqual(await target.listIndex(summarize), await file.listIndex(summarize));
      const moved = new CertificateAuthority({ store: target, settings });
      assert.deepEqual(await moved.statuses(), await old.statuses());
      assert.equal((await moved.sign("waiting.example.com", { by })).serial, 5n);
      assert.ok((await verify(moved, "kept.example.com")).ok);
      assert.match((await verify(moved, "bad.example.com")).out, /certificate revoked/);
      await assert.rejects(target.importFrom(file, summarize), StoreConflictError);
    } finally {
      await target.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("audit and revocation records are written with their change or not at all", async () => {
    const bad = { ...auditRecord(new Date(), "submitted", by, { names: ["atomic.example.com"] }), time: "not a time" };
    const csr = opensslCsr("atomic.example.com").csrPem;
    const entry = summarize("atomic.example.com", "request", csr);
    const auditRows = async () => Number((await sql.query("SELECT count(*) AS n FROM fleetca.audit")).rows[0].n);
    const rowsBefore = await auditRows();
    await assert.rejects(a.putRequest("atomic.example.com", csr, entry, bad), /timestamp/);
    assert.equal(await b.getRequest("atomic.example.com"), undefined, "no request without its audit record");
    const good = auditRecord(new Date(), "submitted", by, { names: ["atomic.example.com"] });
    await a.putRequest("atomic.example.com", csr, entry, good);
    assert.deepEqual(await b.readAudit({ name: "atomic.example.com" }), [good]);

    const serial = await a.withLock(() => a.allocateSerials(1));
    const when = new Date("2026-01-02T03:04:05Z");
    const item = {
      name: "atomic.example.com",
      certPem: "-----BEGIN CERTIFICATE-----\natomic\n-----END CERTIFICATE-----\n",
      inventory: { serial, notBefore: when, notAfter: when, subject: "/CN=atomic.example.com" },
      entry: { name: "atomic.example.com", state: "signed" as const, sha256: "SHA", altNames: [], authExtensions: {}, serial, notBefore: when, notAfter: when },
    };
    const inventory = (await a.readInventory()).length;
    await assert.rejects(a.commitSigned([{ ...item, audit: { ...bad, action: "signed" } }]), /timestamp/);
    assert.equal(await b.getCertificate("atomic.example.com"), undefined, "no certificate without its audit record");
    assert.equal(await b.getRequest("atomic.example.com"), csr, "nor its request removed");
    assert.equal((await b.readInventory()).length, inventory);

    const record = { serial, name: "atomic.example.com", revokedAt: when, reason: "keyCompromise" as const, by: "test" };
    await assert.rejects(a.withLock(() => a.putRevocations([record], [{ ...bad, action: "revoked" }])), /timestamp/);
    assert.equal(await b.getRevocation(serial), undefined, "no revocation record without its audit record");
    assert.equal(await auditRows(), rowsBefore + 1, "only the good record was appended");
    await a.deleteRequest("atomic.example.com");
  });

  test("the audit trail is append-only, even to TRUNCATE", async () => {
    await assert.rejects(sql.query("DELETE FROM fleetca.audit"), /append-only/);
    await assert.rejects(sql.query("UPDATE fleetca.audit SET who = 'x'"), /append-only/);
    await assert.rejects(sql.query("TRUNCATE fleetca.audit"), /append-only/);
  });

  test("a database at schema version 1 is upgraded at open: its clear CA key is encrypted and the operator told, its CRL's revocations become records", async () => {
    await sql.query("CREATE DATABASE fleetca_v1");
    const url = server.url.replace(/\/fleetca$/, "/fleetca_v1");
    let store = await PostgresStore.open(url);
    try {
      await setupCa(store, { caName: "Puppet CA: v1.example.com", key: { type: "ec", curve: "P-256" }, caTtl: 5 * 365 * 86_400, now: new Date() });
      const ca = new CertificateAuthority({ store, settings });
      await submit(ca, ["old1.example.com", "old2.example.com"]);
      for (const n of ["old1.example.com", "old2.example.com"]) await ca.sign(n, { by });
      for (const n of ["old2.example.com", "old1.example.com"]) await ca.revoke([n], by, "superseded");
      const crl = await store.getCrl();
      const { keyPem } = await store.loadCaMaterial();
      // Back to version 1: what fleetca wrote before revocations were records and the key was encrypted.
      const v1 = new pg.Client({ connectionString: url });
      await v1.connect();
      await v1.query("DROP TABLE fleetca.revocations, fleetca.audit; DROP FUNCTION fleetca.audit_append_only(); DELETE FROM fleetca.schema_migrations WHERE version >= 2");
      await v1.query("DROP TRIGGER ca_changed ON fleetca.ca; DROP FUNCTION fleetca.ca_changed(); ALTER TABLE fleetca.ca DROP CONSTRAINT ca_one_key");
      await v1.query("UPDATE fleetca.ca SET key_pem = $1; ALTER TABLE fleetca.ca DROP COLUMN key_sealed, ALTER COLUMN key_pem SET NOT NULL".replace("$1", `'${keyPem}'`));
      await store.close();
      // Without a passphrase: the key stays as it is, the operator is told, and nothing is signed.
      const notices: string[] = [];
      store = await PostgresStore.open(url, { passphrase: null, onNotice: (m) => notices.push(m) });
      assert.match(notices.join("\n"), /stored in clear .*will not sign with it until it is encrypted: set FLEETCA_CA_PASSPHRASE/);
      const keyless = new CertificateAuthority({ store, settings });
      await submit(keyless, ["new1.example.com"]);
      const refused = await keyless.sign("new1.example.com", { by }).catch((e: unknown) => e);
      assert.ok(refused instanceof CaError && refused.kind === "key-unavailable", String(refused));
      assert.match(refused.message, /stored in clear.*FLEETCA_CA_PASSPHRASE/);
      await store.close();
      // With one: sealed, told, and no PEM key left in the table.
      notices.length = 0;
      store = await PostgresStore.open(url, { onNotice: (m) => notices.push(m) });
      assert.match(notices.join("\n"), /was stored in clear; it is now encrypted/);
      const row = (await v1.query("SELECT key_pem, key_sealed::text AS sealed FROM fleetca.ca")).rows[0] as { key_pem: string | null; sealed: string };
      assert.equal(row.key_pem, null);
      assert.doesNotMatch(row.sealed, /PRIVATE KEY|MII/);
      assert.equal((await store.loadCaMaterial()).keyPem, keyPem);
      assert.deepEqual((await v1.query("SELECT version FROM fleetca.schema_migrations ORDER BY version")).rows, allVersions());
      await v1.end();
      assert.equal(await store.getCrl(), crl);
      const records = await store.listRevocations();
      assert.deepEqual(records.map((r) => [r.serial, r.name, r.reason, r.by]), [
        [3n, "old2.example.com", "superseded", "crl"],
        [2n, "old1.example.com", "superseded", "crl"],
      ]);
      assert.deepEqual(await store.findBySerial(3n, summarize), (await store.getIndexEntry("old2.example.com", summarize)).certificate);
    } finally {
      await store.close();
    }
  });

  test("openStore picks the PostgreSQL store for postgres:// URLs", async () => {
    const s = await openStore(server.url, "/nonexistent");
    try {
      assert.ok(s instanceof PostgresStore);
      assert.equal(await s.isInitialized(), true);
    } finally {
      await s.close();
    }
  });
});

/** Every migration, each applied once: the rows schema_migrations holds on an up-to-date database. */
function allVersions(): { version: number }[] {
  return Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 }));
}
