/**
 * The CaStore contract (src/ca/store.ts), written once and run unchanged against every
 * store: the in-memory one the in-process server tests use, the file store (Puppet's CA
 * directory) and PostgreSQL (a throwaway cluster, skipped as test/store-postgres.test.ts
 * skips). Each case gets a fresh, empty store. The CA material, CSRs and certificates are
 * real, made with src/pki at test time; the times are fixed so records compare exactly.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test, type TestContext } from "node:test";
import pg from "pg";
import { auditRecord, type AuditRecord } from "../src/ca/audit.js";
import { ConsoleAccess } from "../src/ca/console/access.js";
import { localPrincipal, systemPrincipal } from "../src/ca/principal.js";
import type { RevocationRecord } from "../src/ca/revocation.js";
import {
  indexEntries, isBatchStore, StoreConflictError, type ArchiveItem, type CaMaterial, type RegenerationState, type CaStore, type ConsoleSession, type ConsoleUser, type IndexEntry, type IndexQuery, type InventoryEntry, type ListedState,
} from "../src/ca/store.js";
import { certificateEntry, requestEntry, summarize } from "../src/ca/summarize.js";
import { certToPem, issueCertificate, parseCertificateDer } from "../src/pki/certificate.js";
import { crlToPem, emptyCrlState, signCrl, withRevocations, type RevocationRequest } from "../src/pki/crl.js";
import { buildCsr, csrToPem, parseCsrDer } from "../src/pki/csr.js";
import { keyIdentifier } from "../src/pki/extensions.js";
import { generateKeyPair, privateKeyToPem, publicKeyToPem, spkiDer, type KeyPair } from "../src/pki/keys.js";
import { cnName } from "../src/pki/name.js";
import { caExtensions, leafExtensions } from "../src/pki/profile.js";
import { FileStore } from "../src/store/file/index.js";
import { PostgresStore } from "../src/store/postgres/index.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { tmpDir } from "./helpers/openssl.js";
import { pgUnavailable, startPg, type PgServer } from "./helpers/pg-server.js";

/** Whole seconds: CRLs keep revocation times to the second. */
const T0 = new Date("2026-03-01T12:00:00Z");
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const CA_NAME = "Puppet CA: contract.example.com";

// ---------------------------------------------------------------- real PKI, made once

let caKeys: KeyPair;
let leafKeys: KeyPair;
let caSubject: Buffer;
let caSpki: Buffer;
let caCertPem: string;

async function makePki(): Promise<void> {
  if (caKeys) return;
  [caKeys, leafKeys] = await Promise.all([generateKeyPair({ type: "ec", curve: "P-256" }), generateKeyPair({ type: "ec", curve: "P-256" })]);
  caSubject = cnName(CA_NAME);
  caSpki = spkiDer(caKeys.publicKey);
  const der = await issueCertificate(
    { serial: 1n, issuer: caSubject, subject: caSubject, notBefore: at(-1440), notAfter: at(5 * 365 * 1440), spki: caSpki, extensions: caExtensions(caSpki) },
    caKeys.privateKey,
  );
  caCertPem = certToPem(der);
}

/** A CRL signed by the CA, listing `revoked` (none: Puppet's fresh CA). */
async function crlPem(revoked: RevocationRequest[] = []): Promise<string> {
  let state = emptyCrlState(caSubject, keyIdentifier(caSpki), T0, at(5 * 365 * 1440));
  state = withRevocations(state, revoked, T0, at(5 * 365 * 1440));
  return crlToPem(await signCrl(state, caKeys.privateKey));
}

async function material(revoked: RevocationRequest[] = []): Promise<CaMaterial> {
  return { certPem: caCertPem, keyPem: privateKeyToPem(caKeys.privateKey), publicKeyPem: publicKeyToPem(caKeys.publicKey), crlPem: await crlPem(revoked) };
}

const CA_LINE: InventoryEntry = { serial: 1n, notBefore: at(-1440), notAfter: at(5 * 365 * 1440), subject: `/CN=${CA_NAME}` };

/** Sets the CA up as `fleetca ca setup` would: serial 1 is the CA's, the next is 2. */
async function initialize(s: CaStore, opts: { revoked?: RevocationRequest[]; firstSerial?: bigint } = {}): Promise<void> {
  await s.initialize(await material(opts.revoked), { firstSerial: opts.firstSerial ?? 2n, caInventory: CA_LINE });
}

interface Request {
  pem: string;
  entry: IndexEntry;
}

async function request(name: string): Promise<Request> {
  const der = await buildCsr({ commonName: name, altNames: [`DNS:${name}`] }, leafKeys.privateKey, leafKeys.publicKey);
  return { pem: csrToPem(der), entry: requestEntry(name, parseCsrDer(der)) };
}

interface Cert {
  name: string;
  certPem: string;
  inventory: InventoryEntry;
  entry: IndexEntry;
}

async function certificate(name: string, serial: bigint, days = 365): Promise<Cert> {
  const leafSpki = spkiDer(leafKeys.publicKey);
  const notBefore = at(-1440);
  const notAfter = at(days * 1440);
  const extensions = leafExtensions({ commonName: name, spki: leafSpki, altNames: [`DNS:${name}`], copied: [], caSpki, caIssuerDer: caSubject, caSerial: 1n });
  const der = await issueCertificate({ serial, issuer: caSubject, subject: cnName(name), notBefore, notAfter, spki: leafSpki, extensions }, caKeys.privateKey);
  return { name, certPem: certToPem(der), inventory: { serial, notBefore, notAfter, subject: `/CN=${name}` }, entry: certificateEntry(name, parseCertificateDer(der)) };
}

async function putCert(s: CaStore, c: Cert): Promise<void> {
  await s.putCertificate(c.name, c.certPem, c.inventory, c.entry);
}

/** A valid certname of exactly `length` characters, starting with `first`: labels of up to 63. */
function longName(length: number, first: string): string {
  const labels: string[] = [];
  let left = length;
  while (left > 0) {
    const size = Math.min(63, left === 64 ? 62 : left);
    labels.push(first.repeat(size));
    left -= size + 1;
  }
  const name = labels.join(".");
  assert.equal(name.length, length);
  return name;
}

const operator = localPrincipal("root", "ca1");
const audit = (minutes: number, action: AuditRecord["action"], what: Parameters<typeof auditRecord>[3] = {}) => auditRecord(at(minutes), action, operator, what);

function revocation(serial: bigint, name: string, extra: Partial<RevocationRecord> = {}): RevocationRecord {
  return { serial, name, revokedAt: at(10), reason: "keyCompromise", by: "cli:root@ca1", ...extra };
}

// ---------------------------------------------------------------- the cases

interface Case {
  name: string;
  run(s: CaStore, t: TestContext): Promise<void>;
}

const CASES: Case[] = [
  {
    name: "initialize stores the material once; a second initialize is refused",
    async run(s) {
      assert.equal(await s.isInitialized(), false);
      const m = await material();
      await s.initialize(m, { firstSerial: 2n, caInventory: CA_LINE });
      assert.equal(await s.isInitialized(), true);
      assert.deepEqual(await s.loadCaMaterial(), m);
      assert.equal(await s.getCrl(), m.crlPem);
      assert.equal(await s.peekSerial(), 2n);
      assert.deepEqual(await s.readInventory(), [CA_LINE]);
      await assert.rejects(s.initialize(m, { firstSerial: 2n, caInventory: CA_LINE }), StoreConflictError);
      assert.equal(await s.peekSerial(), 2n, "the refused initialize changed nothing");
    },
  },
  {
    name: "requests: put with their submitted audit record, get, list and delete",
    async run(s) {
      await initialize(s);
      const a = await request("a.example.com");
      const b = await request("b.example.com");
      const submitted = audit(1, "submitted", { names: ["a.example.com"], detail: a.entry.sha256 });
      await s.putRequest("a.example.com", a.pem, a.entry, submitted);
      await s.putRequest("b.example.com", b.pem, b.entry);
      assert.equal(await s.getRequest("a.example.com"), a.pem);
      assert.deepEqual(await s.getIndexEntry("a.example.com", summarize), { request: a.entry });
      assert.deepEqual(await s.listIndex(summarize), [a.entry, b.entry]);
      // A submission's name and its trailing-dot twin, from one look where the store can (IndexEntriesStore).
      assert.deepEqual(await indexEntries(s, ["b.example.com", "none.example.com", "a.example.com"], summarize), [{ request: b.entry }, {}, { request: a.entry }]);
      assert.deepEqual(await s.readAudit({}), [submitted], "the audit record came with the request; none without one");
      // A new request replaces the pending one.
      const again = await request("b.example.com");
      await s.putRequest("b.example.com", again.pem, again.entry);
      assert.equal(await s.getRequest("b.example.com"), again.pem);
      assert.equal(await s.deleteRequest("a.example.com"), true);
      assert.equal(await s.deleteRequest("a.example.com"), false);
      assert.equal(await s.getRequest("a.example.com"), undefined);
      assert.deepEqual(await s.getIndexEntry("a.example.com", summarize), {});
      assert.deepEqual((await s.listIndex(summarize)).map((e) => e.name), ["b.example.com"]);
    },
  },
  {
    name: "serials: consecutive under withLock, also when callers race; peek does not advance",
    async run(s) {
      await initialize(s, { firstSerial: 0x10n });
      assert.equal(await s.peekSerial(), 0x10n);
      assert.equal(await s.peekSerial(), 0x10n);
      const got = await Promise.all(Array.from({ length: 8 }, () => s.withLock(() => s.allocateSerial())));
      assert.deepEqual([...got].sort((x, y) => (x < y ? -1 : 1)), Array.from({ length: 8 }, (_, i) => 0x10n + BigInt(i)));
      assert.equal(await s.peekSerial(), 0x18n);
      if (isBatchStore(s)) {
        assert.equal(await s.withLock(() => s.allocateSerials(5)), 0x18n);
        assert.equal(await s.withLock(() => s.allocateSerial()), 0x1dn);
      }
    },
  },
  {
    name: "withLock runs one holder at a time and passes results and errors through",
    async run(s) {
      await initialize(s);
      let inside = 0;
      let most = 0;
      const hold = () => s.withLock(async () => {
        most = Math.max(most, ++inside);
        await new Promise((r) => setTimeout(r, 10));
        inside--;
        return "done";
      });
      assert.deepEqual(await Promise.all([hold(), hold(), hold()]), ["done", "done", "done"]);
      assert.equal(most, 1);
      await assert.rejects(s.withLock(async () => Promise.reject(new Error("inside"))), /inside/);
      assert.equal(await s.withLock(async () => 7), 7, "a failed holder releases the lock");
    },
  },
  {
    name: "commitSigned stores the certificates, removes their requests and appends their audit records",
    async run(s, t) {
      if (!isBatchStore(s)) return t.skip("no batch capability");
      await initialize(s);
      const req = await request("one.example.com");
      await s.putRequest("one.example.com", req.pem, req.entry);
      // A pending request of the autosigned name's must stay: nothing of it was signed.
      const pending = await request("two.example.com");
      await s.putRequest("two.example.com", pending.pem, pending.entry);
      const first = await s.withLock(() => s.allocateSerials(2));
      const one = await certificate("one.example.com", first);
      const two = await certificate("two.example.com", first + 1n);
      const signed = [
        audit(2, "signed", { names: ["one.example.com"], serials: [first] }),
        audit(2, "signed", { names: ["two.example.com"], serials: [first + 1n], detail: "autosign" }),
      ];
      await s.withLock(() => s.commitSigned([{ ...one, audit: signed[0] }, { ...two, removeRequest: false, audit: signed[1] }]));
      assert.equal(await s.getRequest("one.example.com"), undefined);
      assert.equal(await s.getRequest("two.example.com"), pending.pem, "removeRequest: false leaves the request");
      assert.equal(await s.getCertificate("one.example.com"), one.certPem);
      assert.deepEqual(await s.getIndexEntry("one.example.com", summarize), { certificate: one.entry });
      assert.deepEqual((await s.readInventory()).slice(1), [one.inventory, two.inventory]);
      assert.deepEqual(await s.readAudit({ action: "signed" }), signed);
    },
  },
  {
    name: "names of 220 to 253 characters (valid certnames): requests written together, certificates, listing and removal",
    async run(s) {
      await initialize(s);
      // 253 is the longest certname; its "<name>.pem" leaves no room for a temporary name built on it.
      const names = [longName(253, "a"), longName(253, "b"), longName(220, "c"), "short.example.com"];
      const reqs = await Promise.all(names.map((n) => request(n)));
      // Submitted at once, as agents do: the file store writes them in one batch.
      await Promise.all(names.map((n, i) => s.putRequest(n, reqs[i]!.pem, reqs[i]!.entry)));
      for (const [i, n] of names.entries()) assert.equal(await s.getRequest(n), reqs[i]!.pem);
      const cert = await certificate(names[0]!, 2n);
      if (isBatchStore(s)) await s.withLock(() => s.commitSigned([{ ...cert }]));
      else {
        await putCert(s, cert);
        await s.deleteRequest(names[0]!);
      }
      assert.equal(await s.getCertificate(names[0]!), cert.certPem);
      assert.deepEqual(await s.getIndexEntry(names[0]!, summarize), { certificate: cert.entry });
      assert.deepEqual((await s.listIndex(summarize)).map((e) => [e.name, e.state]), [
        [names[0], "signed"], [names[1], "requested"], [names[2], "requested"], [names[3], "requested"],
      ]);
      assert.equal(await s.deleteCertificate(names[0]!), true);
      assert.equal(await s.deleteRequest(names[1]!), true);
      assert.equal(await s.getRequest(names[1]!), undefined);
    },
  },
  {
    name: "listIndex: sorted by name in code-unit order, a request before a certificate of the same name",
    async run(s) {
      await initialize(s);
      const certs = await Promise.all([certificate("b.example.com", 2n), certificate("a.example.com", 3n), certificate("a-b.example.com", 4n), certificate("d.example.com", 5n)]);
      for (const c of certs) await putCert(s, c);
      const c = await request("c.example.com");
      const d = await request("d.example.com");
      await s.putRequest("d.example.com", d.pem, d.entry);
      await s.putRequest("c.example.com", c.pem, c.entry);
      const listed = await s.listIndex(summarize);
      assert.deepEqual(listed.map((e) => [e.name, e.state]), [
        ["a-b.example.com", "signed"],
        ["a.example.com", "signed"],
        ["b.example.com", "signed"],
        ["c.example.com", "requested"],
        ["d.example.com", "requested"],
        ["d.example.com", "signed"],
      ]);
      assert.deepEqual(listed[1], certs[1]!.entry);
      assert.deepEqual(await s.getIndexEntry("d.example.com", summarize), { request: d.entry, certificate: certs[3]!.entry });
      assert.deepEqual((await s.readInventory()).map((e) => e.serial), [1n, 2n, 3n, 4n, 5n]);
      assert.equal(await s.deleteCertificate("b.example.com"), true);
      assert.equal(await s.deleteCertificate("b.example.com"), false);
      assert.equal((await s.readInventory()).length, 5, "the inventory keeps the lines of cleaned certificates");
    },
  },
  {
    name: "putRevocations, then listRevocations in recorded order and getRevocation; a second revoke keeps the first record",
    async run(s) {
      await initialize(s);
      const big = 0x7f1234567890abcdef1234567890n; // past 2^64: serials go up to 20 octets
      const r1 = revocation(0x10n, "a.example.com");
      const r2 = revocation(0x11n, "b.example.com", { reason: "superseded", revokedAt: at(11) });
      const first = audit(10, "revoked", { names: ["a.example.com", "b.example.com"], serials: [0x10n, 0x11n], detail: "keyCompromise" });
      await s.withLock(() => s.putRevocations([r1, r2], [first]));
      assert.deepEqual(await s.listRevocations(), [r1, r2]);
      assert.deepEqual(await s.getRevocation(0x11n), r2);
      assert.equal(await s.getRevocation(0x12n), undefined);
      const r3 = revocation(big, "c.example.com", { reason: "cessationOfOperation", by: "console:alice" });
      const second = audit(20, "revoked", { names: ["a.example.com", "c.example.com"], serials: [0x10n, big] });
      await s.withLock(() => s.putRevocations([{ ...r1, reason: "affiliationChanged", by: "someone else", revokedAt: at(20) }, r3], [second]));
      assert.deepEqual(await s.listRevocations(), [r1, r2, r3]);
      assert.deepEqual(await s.getRevocation(0x10n), r1, "the first record stands");
      assert.deepEqual(await s.getRevocation(big), r3);
      assert.deepEqual(await s.readAudit({ action: "revoked" }), [first, second], "every revoke is audited, repeated or not");
    },
  },
  {
    name: "findBySerial finds the certificate a name holds, and nothing once it is deleted",
    async run(s) {
      await initialize(s);
      const a = await certificate("a.example.com", 2n);
      const b = await certificate("b.example.com", 3n);
      await putCert(s, a);
      await putCert(s, b);
      assert.deepEqual(await s.findBySerial(3n, summarize), b.entry);
      assert.deepEqual(await s.findBySerial(2n, summarize), a.entry);
      assert.equal(await s.findBySerial(9n, summarize), undefined);
      await s.deleteCertificate("b.example.com");
      assert.equal(await s.findBySerial(3n, summarize), undefined);
      // A renewal: the name now holds another serial; the old one is no name's.
      const renewed = await certificate("a.example.com", 4n);
      await putCert(s, renewed);
      assert.deepEqual(await s.findBySerial(4n, summarize), renewed.entry);
      assert.equal(await s.findBySerial(2n, summarize), undefined);
    },
  },
  {
    name: "appendAudit and readAudit: oldest first; since, name and action filter; limit keeps the most recent",
    async run(s) {
      await initialize(s);
      const autosign = systemPrincipal("autosign", "10.0.0.7");
      const recs = [
        audit(1, "submitted", { names: ["a.example.com"] }),
        auditRecord(at(2), "signed", autosign, { names: ["a.example.com"], serials: [2n], detail: "autosign" }),
        audit(3, "submitted", { names: ["b.example.com"] }),
        audit(4, "revoked", { names: ["a.example.com", "b.example.com"], serials: [2n, 0xabcn], detail: "keyCompromise" }),
        audit(5, "cleaned", { names: ["b.example.com"], outcome: "refused", reason: "b.example.com has no certificate" }),
      ];
      await s.appendAudit([]);
      await s.appendAudit(recs.slice(0, 2));
      await s.appendAudit(recs.slice(2));
      const pick = (...i: number[]) => i.map((n) => recs[n]!);
      assert.deepEqual(await s.readAudit({}), recs);
      assert.deepEqual(await s.readAudit({ since: at(3) }), pick(2, 3, 4), "since is inclusive");
      assert.deepEqual(await s.readAudit({ name: "a.example.com" }), pick(0, 1, 3));
      assert.deepEqual(await s.readAudit({ action: "submitted" }), pick(0, 2));
      assert.deepEqual(await s.readAudit({ limit: 2 }), pick(3, 4));
      assert.deepEqual(await s.readAudit({ name: "b.example.com", limit: 2 }), pick(3, 4));
      assert.deepEqual(await s.readAudit({ name: "b.example.com", action: "cleaned" }), pick(4));
      assert.deepEqual(await s.readAudit({ since: at(2), name: "a.example.com", limit: 1 }), pick(3));
      assert.deepEqual(await s.readAudit({ name: "a" }), [], "names match whole");
      assert.deepEqual(await s.readAudit({ since: at(6) }), []);
      assert.deepEqual(await s.readAudit({ limit: 0 }), []);
    },
  },
  {
    name: "putCrl replaces the CRL and changes the material version",
    async run(s) {
      await initialize(s);
      const before = await s.materialVersion();
      assert.equal(await s.materialVersion(), before, "stable while nothing changes");
      const next = await crlPem([{ serial: 9n, when: at(30) }]);
      await s.withLock(() => s.putCrl(next));
      assert.equal(await s.getCrl(), next);
      assert.equal((await s.loadCaMaterial()).crlPem, next);
      assert.notEqual(await s.materialVersion(), before);
    },
  },
  {
    name: "putCaCertificate replaces the CA certificate only and changes the material version",
    async run(s) {
      await initialize(s);
      const before = await s.materialVersion();
      const old = await s.loadCaMaterial();
      const serial = await s.peekSerial();
      // Other bytes than before (a bundle of the same certificate twice): the store keeps what it is given.
      const other = old.certPem + old.certPem;
      await s.withLock(() => s.putCaCertificate(other));
      const now = await s.loadCaMaterial();
      assert.equal(now.certPem, other);
      assert.equal(now.keyPem, old.keyPem, "the key stays");
      assert.equal(now.crlPem, old.crlPem, "the CRL stays");
      assert.equal(await s.peekSerial(), serial, "the serial counter stays");
      assert.deepEqual(await s.readInventory(), [CA_LINE], "the inventory stays");
      assert.notEqual(await s.materialVersion(), before);
    },
  },
  {
    name: "a CA whose CRL already lists serials: listRevocations rebuilds the records, named from the inventory, and keeps them",
    async run(s) {
      await initialize(s, {
        revoked: [{ serial: 5n, when: at(-60) }, { serial: 6n, when: at(-50), reasonCode: 4 }, { serial: 7n, when: at(-40), reasonCode: 0 }],
        firstSerial: 8n,
      });
      await putCert(s, await certificate("five.example.com", 5n));
      await putCert(s, await certificate("six.example.com", 6n));
      const rebuilt: RevocationRecord[] = [
        { serial: 5n, name: "five.example.com", revokedAt: at(-60), reason: "keyCompromise", by: "crl" },
        { serial: 6n, name: "six.example.com", revokedAt: at(-50), reason: "superseded", by: "crl" },
        { serial: 7n, name: "", revokedAt: at(-40), reason: "unspecified", by: "crl" },
      ];
      assert.deepEqual(await s.listRevocations(), rebuilt);
      assert.deepEqual(await s.getRevocation(6n), rebuilt[1]);
      // Kept: a later revoke adds to them, and a name cleaned since does not lose its record.
      await s.deleteCertificate("five.example.com");
      const r8 = revocation(8n, "eight.example.com");
      await s.withLock(() => s.putRevocations([r8], [audit(10, "revoked", { names: ["eight.example.com"], serials: [8n] })]));
      assert.deepEqual(await s.listRevocations(), [...rebuilt, r8]);
    },
  },
  {
    name: "a CA whose CRL already lists serials: getRevocation finds them before any listing",
    async run(s) {
      await initialize(s, { revoked: [{ serial: 5n, when: at(-60) }], firstSerial: 6n });
      assert.deepEqual(await s.getRevocation(5n), { serial: 5n, name: "", revokedAt: at(-60), reason: "keyCompromise", by: "crl" });
      assert.equal(await s.getRevocation(6n), undefined);
    },
  },
  {
    name: "a CA whose CRL already lists serials: its first recorded revoke keeps the CRL's serials as records",
    async run(s) {
      await initialize(s, { revoked: [{ serial: 5n, when: at(-60) }, { serial: 6n, when: at(-50) }], firstSerial: 7n });
      const r7 = revocation(7n, "seven.example.com");
      await s.withLock(() => s.putRevocations([r7], []));
      assert.deepEqual((await s.listRevocations()).map((r) => [r.serial, r.by]), [[5n, "crl"], [6n, "crl"], [7n, r7.by]]);
    },
  },
  {
    name: "serials the CRL lists without a record (one lost while its CRL was published) are taken in by listRevocations, after the records",
    async run(s) {
      await initialize(s);
      await putCert(s, await certificate("six.example.com", 6n));
      const r5 = revocation(5n, "five.example.com");
      await s.withLock(() => s.putRevocations([r5], []));
      await s.withLock(async () => s.putCrl(await crlPem([{ serial: 5n, when: at(10) }, { serial: 6n, when: at(10), reasonCode: 5 }])));
      const lost: RevocationRecord = { serial: 6n, name: "six.example.com", revokedAt: at(10), reason: "cessationOfOperation", by: "crl" };
      assert.deepEqual(await s.listRevocations(), [r5, lost]);
      assert.deepEqual(await s.getRevocation(6n), lost, "and kept");
    },
  },
  {
    // The CA records and publishes side by side (ca/revoke.ts): the CRL may list a serial
    // before its record lands, and on a CA without records yet, that must not turn the record
    // into a rebuilt one.
    name: "a first revoke whose CRL was published before its record: the record given is kept, not one rebuilt from the CRL",
    async run(s) {
      await initialize(s);
      await s.withLock(async () => s.putCrl(await crlPem([{ serial: 5n, when: at(10) }])));
      const r5 = revocation(5n, "five.example.com", { by: "console:alice" });
      await s.withLock(() => s.putRevocations([r5], [audit(10, "revoked", { names: ["five.example.com"], serials: [5n] })]));
      assert.deepEqual(await s.listRevocations(), [r5]);
    },
  },
  {
    name: "a listing that rebuilt a serial from a CRL published before its record: the record, when it lands, replaces the rebuilt one",
    async run(s) {
      await initialize(s);
      await s.withLock(async () => s.putCrl(await crlPem([{ serial: 5n, when: at(10) }])));
      assert.deepEqual((await s.listRevocations()).map((r) => r.by), ["crl"]);
      const r5 = revocation(5n, "five.example.com", { by: "console:alice" });
      await s.withLock(() => s.putRevocations([r5], []));
      assert.deepEqual(await s.listRevocations(), [r5]);
      assert.deepEqual(await s.getRevocation(5n), r5);
    },
  },
  {
    // fleetca ca prune (ca/crl-upkeep.ts): the CRL is rebuilt without the entries of expired
    // certificates, and their records are history the CRL no longer shows.
    name: "a CRL published without entries it listed before (a prune) leaves every record, and a later revoke adds to them",
    async run(s) {
      await initialize(s);
      const r5 = revocation(5n, "five.example.com");
      const r6 = revocation(6n, "six.example.com", { reason: "superseded" });
      await s.withLock(() => s.putRevocations([r5, r6], []));
      await s.withLock(async () => s.putCrl(await crlPem([{ serial: 5n, when: at(10) }, { serial: 6n, when: at(10), reasonCode: 4 }])));
      assert.deepEqual(await s.listRevocations(), [r5, r6]);
      await s.withLock(async () => s.putCrl(await crlPem([{ serial: 6n, when: at(10), reasonCode: 4 }])));
      assert.deepEqual(await s.listRevocations(), [r5, r6]);
      assert.deepEqual(await s.getRevocation(5n), r5);
      const r7 = revocation(7n, "seven.example.com", { revokedAt: at(30) });
      await s.withLock(() => s.putRevocations([r7], []));
      await s.withLock(async () => s.putCrl(await crlPem([{ serial: 6n, when: at(10), reasonCode: 4 }, { serial: 7n, when: at(30) }])));
      assert.deepEqual(await s.listRevocations(), [r5, r6, r7]);
    },
  },
];

// ---------------------------------------------------------------- console users and sessions

const user = (name: string, role: ConsoleUser["role"], minutes = 0): ConsoleUser => ({
  name, role, passwordHash: `scrypt$32768$8$1$c2FsdA==$${name}`, createdAt: at(minutes), updatedAt: at(minutes),
});
const session = (id: string, name: string, created: number, seen = created): ConsoleSession => ({
  id: id.repeat(64).slice(0, 64), user: name, csrf: `csrf-${id}`, createdAt: at(created), lastSeen: at(seen), from: "192.0.2.7",
});

CASES.push(
  {
    name: "console users: create once, update, list by name, delete",
    async run(s) {
      assert.deepEqual(await s.listUsers(), []);
      await s.createUser(user("zoe", "viewer"));
      await s.createUser(user("al", "admin"));
      await assert.rejects(s.createUser(user("al", "viewer")), StoreConflictError, "a taken name is refused");
      assert.deepEqual(await s.getUser("al"), user("al", "admin"), "the refused create changed nothing");
      assert.deepEqual((await s.listUsers()).map((u) => u.name), ["al", "zoe"]);
      const changed = { ...user("zoe", "operator"), passwordHash: "scrypt$32768$8$1$c2FsdA==$new", updatedAt: at(5) };
      assert.equal(await s.updateUser(changed), true);
      assert.deepEqual(await s.getUser("zoe"), changed);
      assert.equal(await s.updateUser(user("nobody", "admin")), false);
      assert.equal(await s.getUser("nobody"), undefined);
      assert.equal(await s.deleteUser("zoe"), true);
      assert.equal(await s.deleteUser("zoe"), false);
      assert.deepEqual((await s.listUsers()).map((u) => u.name), ["al"]);
    },
  },
  {
    name: "console sessions: put, get, touch forward only, end one, a user's, the expired; deleting a user ends theirs",
    async run(s) {
      await s.createUser(user("al", "admin"));
      await s.createUser(user("bo", "viewer"));
      const a = session("a", "al", 0);
      const b = session("b", "al", 1);
      const c = session("c", "bo", 2);
      for (const x of [a, b, c]) await s.putSession(x);
      assert.deepEqual(await s.getSession(a.id), a);
      assert.equal(await s.touchSession(a.id, at(30)), true);
      assert.equal(await s.touchSession(a.id, at(10)), true);
      assert.deepEqual((await s.getSession(a.id))?.lastSeen, at(30), "lastSeen never goes back");
      assert.equal(await s.touchSession(session("z", "al", 0).id, at(30)), false);
      assert.equal(await s.deleteSession(b.id), true);
      assert.equal(await s.deleteSession(b.id), false);
      assert.equal(await s.getSession(b.id), undefined);
      // Idle: c was last seen at 2 (before 20); a was seen at 30 but created at 0 (before 1).
      assert.equal(await s.pruneSessions(at(20), at(-5)), 1);
      assert.equal(await s.getSession(c.id), undefined);
      assert.equal(await s.pruneSessions(at(20), at(1)), 1, "too old, however recently used");
      await s.putSession(a);
      await s.putSession(session("d", "al", 3));
      await s.putSession(c);
      assert.equal(await s.deleteSessionsOf("al"), 2);
      assert.equal(await s.deleteUser("bo"), true);
      assert.equal(await s.getSession(c.id), undefined, "a deleted user's sessions end");
    },
  },
  {
    name: "login counters: updates from many connections at once all count; undefined deletes; prune forgets the stale",
    async run(s) {
      assert.deepEqual(await s.getLoginCounters(["user:al"]), new Map());
      const bump = (keys: string[], t: number) => s.updateLoginCounters(keys, (cur) => new Map(keys.map((k) => [k, { failures: [...(cur.get(k)?.failures ?? []), at(t)] }])));
      // Ten failures counted at once (a server's concurrent logins, or several servers'): none is lost.
      await Promise.all(Array.from({ length: 10 }, (_, i) => bump(["user:al", `address:10.0.0.${i % 2}`], 1)));
      const got = await s.getLoginCounters(["user:al", "address:10.0.0.0", "address:10.0.0.1", "user:nobody"]);
      assert.deepEqual([...got.keys()].sort(), ["address:10.0.0.0", "address:10.0.0.1", "user:al"]);
      assert.equal(got.get("user:al")!.failures.length, 10);
      assert.equal(got.get("address:10.0.0.0")!.failures.length, 5);
      await s.updateLoginCounters(["user:bo"], () => new Map([["user:bo", { failures: [], lockedUntil: at(60) }]]));
      assert.deepEqual(await s.getLoginCounters(["user:bo"]), new Map([["user:bo", { failures: [], lockedUntil: at(60) }]]));
      await s.updateLoginCounters(["address:10.0.0.1"], () => new Map([["address:10.0.0.1", undefined]]));
      assert.equal((await s.getLoginCounters(["address:10.0.0.1"])).size, 0);
      // At 30: al's and 10.0.0.0's failures (at 1) are out of a window starting at 20; bo is locked until 60.
      assert.equal(await s.pruneLoginCounters(at(20), at(30)), 2);
      assert.deepEqual([...(await s.getLoginCounters(["user:al", "address:10.0.0.0", "user:bo"])).keys()], ["user:bo"]);
      assert.equal(await s.pruneLoginCounters(at(20), at(61)), 1, "a lock that ended goes too");
    },
  },
  {
    name: "a login lockout is kept by the store: failures through two servers' console access add up, and both refuse",
    async run(s) {
      const clock = () => at(5);
      const policy = { throttle: { maxFailures: 2, windowSeconds: 900, lockSeconds: 900 } };
      const [one, two] = [new ConsoleAccess(s, clock, policy), new ConsoleAccess(s, clock, policy)];
      await one.addUser("al", "admin", "a long enough password", operator);
      await assert.rejects(one.login("al", "wrong password 1", "10.0.0.1"), { kind: "unauthenticated" });
      await assert.rejects(two.login("al", "wrong password 2", "10.0.0.2"), { kind: "unauthenticated" });
      for (const access of [one, two]) await assert.rejects(access.login("al", "a long enough password", "10.0.0.4"), { kind: "locked-out" }, "the right password is refused while locked");
      const audited = await s.readAudit({ action: "login-locked" });
      assert.deepEqual(audited.map((r) => r.reason), ["too many failed logins for user:al"]);
    },
  },
);

// ---------------------------------------------------------------- pages of the index (the console's lists)

/** queryIndex as its contract describes it, computed naively from listIndex. */
function referencePage(all: IndexEntry[], q: IndexQuery): { total: number; items: string[] } {
  const stateOf = (e: IndexEntry): ListedState => (e.state === "requested" ? "requested" : e.serial !== undefined && q.revoked.has(e.serial) ? "revoked" : "signed");
  const before = q.expiresBefore?.getTime();
  const rows = all
    .map((entry, i) => ({ entry, i, state: stateOf(entry) }))
    .filter((r) => q.states.includes(r.state) && (q.search === undefined || r.entry.name.includes(q.search)) && (before === undefined || (r.entry.notAfter !== undefined && r.entry.notAfter.getTime() < before)));
  const keyOf = (r: (typeof rows)[number]): number | bigint | string =>
    q.sort === "notAfter" ? (r.entry.notAfter?.getTime() ?? 0) : q.sort === "serial" ? (r.entry.serial ?? 0n) : q.sort === "state" ? r.state : 0;
  rows.sort((a, b) => {
    if (q.sort === "name") return q.descending ? b.i - a.i : a.i - b.i;
    const [x, y] = [keyOf(a), keyOf(b)];
    if (x !== y) return (x < y ? -1 : 1) * (q.descending ? -1 : 1);
    return a.i - b.i;
  });
  return { total: rows.length, items: rows.slice(q.offset, q.offset + q.limit).map((r) => `${r.state}:${r.entry.name}`) };
}

CASES.push({
  name: "queryIndex pages match listIndex filtered and sorted (states from the revoked serials, search, expiry, every order, both directions); countIndex counts",
  async run(s) {
    await initialize(s);
    // Names sharing substrings, equal expiries (ties), a name with both a request and a certificate.
    const certs: [string, number][] = [["web1.example.com", 30], ["web2.example.com", 400], ["db1.example.com", 30], ["db2.example.org", 90], ["mail.example.com", 400], ["b.example.com", 10], ["a-web.example.net", 200]];
    for (const [i, [name, days]] of certs.entries()) await putCert(s, await certificate(name, BigInt(0x20 + ((i * 5) % 7)), days));
    for (const name of ["zz.example.com", "web1.example.com", "a.example.com", "dbx.example.org"]) {
      const r = await request(name);
      await s.putRequest(name, r.pem, r.entry);
    }
    const all = await s.listIndex(summarize);
    const revoked = new Set([0x20n + 5n, 0x20n + 1n, 0x99n]);
    const counts = await s.countIndex(revoked, summarize);
    assert.deepEqual(counts, { requested: 4, revoked: 2, signed: 5 });
    assert.deepEqual(await s.countIndex(new Set(), summarize), { requested: 4, revoked: 0, signed: 7 });
    const stateSets: ListedState[][] = [["requested"], ["signed"], ["revoked"], ["signed", "revoked"], ["requested", "signed", "revoked"]];
    const pages: [number, number][] = [[0, 50], [1, 2], [20, 5]];
    let checked = 0;
    for (const states of stateSets) {
      for (const sort of ["name", "notAfter", "state", "serial"] as const) {
        for (const descending of [false, true]) {
          // One batch of queries at a time, at once: concurrent readers of one store, as a server's.
          const batch: IndexQuery[] = [];
          for (const search of [undefined, "web"]) {
            for (const expiresBefore of [undefined, at(100 * 1440)]) {
              for (const [offset, limit] of pages) batch.push({ states, sort, descending, search, expiresBefore, offset, limit, revoked });
            }
          }
          const answers = await Promise.all(batch.map((q) => s.queryIndex(q, summarize)));
          answers.forEach((page, i) => {
            const q = batch[i]!;
            const got = { total: page.total, items: page.items.map((it) => `${it.state}:${it.entry.name}`) };
            assert.deepEqual(got, referencePage(all, q), JSON.stringify({ ...q, revoked: [...revoked].map(String) }));
            checked++;
          });
        }
      }
    }
    assert.equal(checked, 5 * 4 * 2 * 2 * 2 * 3);
    // A page's entries are the index's: every field of a listed certificate.
    const [first] = (await s.queryIndex({ states: ["signed"], sort: "serial", descending: false, offset: 0, limit: 1, revoked }, summarize)).items;
    const listed = all.find((e) => e.state === "signed" && e.name === first!.entry.name)!;
    assert.deepEqual(
      [first!.entry.sha256, first!.entry.serial, first!.entry.notAfter?.getTime(), [...first!.entry.altNames]],
      [listed.sha256, listed.serial, listed.notAfter?.getTime(), [...listed.altNames]],
    );
    // The answer follows changes: a request removed, a certificate cleaned.
    await s.deleteRequest("zz.example.com");
    await s.deleteCertificate("web2.example.com");
    const after = await s.queryIndex({ states: ["requested", "signed", "revoked"], sort: "name", descending: true, offset: 0, limit: 3, revoked }, summarize);
    assert.deepEqual({ total: after.total, items: after.items.map((i) => i.entry.name) }, { total: 9, items: ["web1.example.com", "web1.example.com", "mail.example.com"] });
    assert.deepEqual(await s.countIndex(revoked, summarize), { requested: 3, revoked: 1, signed: 5 }, "web2 held a revoked serial");
  },
});

// ---------------------------------------------------------------- archives and re-enrollment tracking (ca/lifecycle)

async function exported(s: CaStore): Promise<ArchiveItem[]> {
  return s.withLock(async () => {
    const out: ArchiveItem[] = [];
    for await (const it of s.exportArchive()) out.push({ ...it, data: Buffer.from(it.data) });
    return out;
  });
}

/** What a user of the store sees, for comparing a store before an export and after its import. */
async function view(s: CaStore) {
  const names = (await s.listIndex(summarize)).map((e) => `${e.state}:${e.name}`);
  return {
    names, material: await s.loadCaMaterial(), serial: await s.peekSerial(), inventory: await s.readInventory(),
    revocations: await s.listRevocations(), audit: await s.readAudit({}), tracking: await s.readTracking(),
    certs: await Promise.all(names.filter((n) => n.startsWith("signed:")).map((n) => s.getCertificate(n.slice(7)))),
  };
}

const REGEN: RegenerationState = {
  mode: "compromise", startedAt: at(60), oldCaFingerprint: "AA:BB", newCaFingerprint: "CC:DD", firstNewSerial: 0x20n,
};

CASES.push(
  {
    name: "archives: an import puts back exactly what was exported (re-exported byte for byte); an import that fails midway changes nothing",
    async run(s) {
      await initialize(s);
      await s.putRequest("pending.example.com", (await request("pending.example.com")).pem, (await request("pending.example.com")).entry);
      for (const [n, serial] of [["one.example.com", 2n], ["two.example.com", 3n]] as const) await putCert(s, await certificate(n, serial));
      await s.withLock(() => s.putRevocations([revocation(3n, "two.example.com")], [audit(10, "revoked", { names: ["two.example.com"] })]));
      await s.withLock(() => s.allocateSerial());
      await s.startTracking(REGEN, ["one.example.com", "two.example.com"]);
      await s.markSeen("one.example.com", at(61), "192.0.2.1");
      const before = await view(s);
      const archive = await exported(s);
      assert.ok(archive.length > 0);

      await putCert(s, await certificate("three.example.com", 5n));
      await s.deleteRequest("pending.example.com");
      await s.stopTracking();
      await s.appendAudit([audit(70, "cleaned", { names: ["one.example.com"] })]);
      const changed = await view(s);
      assert.notDeepEqual(changed, before);

      async function* broken() {
        yield* archive.slice(0, Math.max(1, Math.floor(archive.length / 2)));
        throw new Error("the archive is damaged");
      }
      await assert.rejects(s.withLock(() => s.importArchive(broken())), /damaged/);
      assert.deepEqual(await view(s), changed, "a failed import leaves the store as it was");

      async function* whole() {
        yield* archive;
      }
      await s.withLock(() => s.importArchive(whole()));
      // Before anything reads the store: a listing may add to the file store's index journal (a cache).
      assert.deepEqual(await exported(s), archive, "exported again, the same items, bytes and modes");
      assert.deepEqual(await view(s), before);
    },
  },
  {
    name: "re-enrollment tracking: start, sightings, dismissal, a new start replaces, stop",
    async run(s) {
      await initialize(s);
      assert.equal(await s.readTracking(), undefined);
      await s.markSeen("ghost.example.com", at(1), "192.0.2.9");
      const oldCrlPem = await crlPem([{ serial: 7n, when: at(2) }]);
      await s.startTracking({ ...REGEN, mode: "rotate", overlapUntil: at(600), oldCaCertPem: caCertPem, oldCrlPem }, ["b.example.com", "a.example.com"]);
      await s.markSeen("a.example.com", at(62), "192.0.2.1");
      await s.markSeen("a.example.com", at(63), "192.0.2.2");
      await s.markSeen("ghost.example.com", at(63), "192.0.2.9");
      assert.equal(await s.dismissNode("b.example.com", at(64)), true);
      assert.equal(await s.dismissNode("ghost.example.com", at(64)), false);
      const t = await s.readTracking();
      assert.deepEqual(t?.state, { ...REGEN, mode: "rotate", overlapUntil: at(600), oldCaCertPem: caCertPem, oldCrlPem });
      assert.deepEqual([...(t?.nodes ?? [])].sort((x, y) => (x.name < y.name ? -1 : 1)), [
        { name: "a.example.com", lastSeenAt: at(63), lastSeenAddress: "192.0.2.2" },
        { name: "b.example.com", dismissedAt: at(64) },
      ]);
      assert.equal(await s.endOverlap(at(300)), true, "a rotation's overlap ended early");
      assert.equal(await s.endOverlap(at(900)), true, "never moved later");
      const ended = await s.readTracking();
      assert.deepEqual(ended?.state, { ...REGEN, mode: "rotate", overlapUntil: at(300), oldCaCertPem: caCertPem, oldCrlPem });
      assert.equal(ended?.nodes.find((n) => n.name === "a.example.com")?.lastSeenAddress, "192.0.2.2", "sightings stay");
      await s.startTracking(REGEN, ["c.example.com"]);
      assert.deepEqual((await s.readTracking())?.nodes, [{ name: "c.example.com" }]);
      assert.equal(await s.endOverlap(at(1)), false, "no overlap to end in a compromise regeneration");
      await s.stopTracking();
      assert.equal(await s.readTracking(), undefined);
    },
  },
);

// ---------------------------------------------------------------- the stores

interface Harness {
  name: string;
  skip?: string;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** A fresh, empty store and how to dispose of it. */
  open(): Promise<{ store: CaStore; dispose(): Promise<void> }>;
}

let pgServer: PgServer | undefined;
let pgAdmin: pg.Client | undefined;

const HARNESSES: Harness[] = [
  {
    name: "memory store",
    async open() {
      return { store: new MemoryStore(), dispose: async () => undefined };
    },
  },
  {
    name: "file store",
    async open() {
      const dir = tmpDir("fleetca-contract-");
      const store = await FileStore.open(`${dir}/ca`);
      return {
        store,
        async dispose() {
          await store.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "PostgreSQL store",
    skip: pgUnavailable(),
    async setup() {
      pgServer = await startPg();
      pgAdmin = new pg.Client({ connectionString: pgServer.url });
      await pgAdmin.connect();
    },
    async teardown() {
      await pgAdmin?.end();
      await pgServer?.stop();
    },
    async open() {
      // A fresh schema per case: open() migrates it from nothing.
      await pgAdmin!.query("DROP SCHEMA IF EXISTS fleetca CASCADE");
      const store = await PostgresStore.open(pgServer!.url);
      return { store, dispose: () => store.close() };
    },
  },
];

for (const h of HARNESSES) {
  if (h.skip) console.log(`# SKIP store-contract on the ${h.name}: ${h.skip}`);
  describe(`store contract: ${h.name}`, { skip: h.skip }, () => {
    before(async () => {
      await makePki();
      await h.setup?.();
    });
    after(async () => h.teardown?.());
    for (const c of CASES) {
      test(c.name, async (t) => {
        const { store, dispose } = await h.open();
        try {
          await c.run(store, t);
        } finally {
          await dispose();
        }
      });
    }
  });
}
