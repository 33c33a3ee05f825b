/**
 * The server's serial reserve: serials taken from the store in growing blocks under load,
 * unique against another process signing at the same time, and handed back on a clean stop
 * so the counter ends where consecutive numbering would have left it.
 */
import { localPrincipal } from "../src/ca/principal.js";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { AUTOSIGN_ON } from "../src/ca/autosign.js";
import { releaseReservedSerials, SerialReserve, serialReserveFor } from "../src/ca/serial-reserve.js";
import { setupCa } from "../src/ca/setup.js";
import { FileStore } from "../src/store/file/index.js";
import { opensslCsr } from "./helpers/cli.js";
import { tmpDir, verifyWithCrl } from "./helpers/openssl.js";

const settings = { caTtl: 86_400, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false };
const actor = localPrincipal("test", "127.0.0.1");

async function newCa() {
  const cadir = path.join(tmpDir(), "ca");
  await setupCa(new FileStore(cadir), { caName: "Puppet CA: t", key: { type: "ec", curve: "P-256" }, caTtl: 86_400 * 365, now: new Date() });
  return cadir;
}

const serialFile = (cadir: string) => parseInt(fs.readFileSync(path.join(cadir, "serial"), "utf8"), 16);
const inventorySerials = (cadir: string) =>
  fs.readFileSync(path.join(cadir, "inventory.txt"), "utf8").trimEnd().split("\n").map((l) => parseInt(l.split(" ")[0]!, 16));

test("block sizes grow while allocations come within a second and fall back to one when it is quiet", () => {
  const r = new SerialReserve();
  const t = 1_000_000;
  assert.deepEqual([r.sizeFor(1, t), r.sizeFor(1, t + 10), r.sizeFor(1, t + 20), r.sizeFor(3, t + 30)], [1, 2, 4, 8]);
  for (let i = 0; i < 10; i++) r.sizeFor(1, t + 40 + i);
  assert.equal(r.sizeFor(1, t + 100), 64, "capped at 64");
  assert.equal(r.sizeFor(100, t + 110), 100, "never fewer than asked for");
  assert.equal(r.sizeFor(1, t + 5000), 1, "after a quiet second, one at a time again");
});

test("a reserving server and a one-shot signer on the same CA never issue the same serial; a clean stop leaves no gap", async () => {
  const cadir = await newCa();
  const serverStore = new FileStore(cadir);
  const server = new CertificateAuthority({ store: serverStore, settings, autosigner: AUTOSIGN_ON, reserveSerials: true });
  const cli = new CertificateAuthority({ store: new FileStore(cadir), settings });
  const names = Array.from({ length: 24 }, (_, i) => `node${i}.example.com`);
  // The server autosigns in bursts (its reserve grows); the "CLI" signs pending requests in between.
  for (let round = 0; round < 3; round++) {
    await Promise.all(names.slice(round * 8, round * 8 + 6).map((n) => server.submitRequest(n, opensslCsr(n).csrPem, actor)));
    for (const n of names.slice(round * 8 + 6, round * 8 + 8)) {
      await cli.submitRequest(n, opensslCsr(n).csrPem, actor);
      await cli.sign(n, { by: actor });
    }
  }
  const serials = inventorySerials(cadir);
  assert.equal(serials.length, 1 + 24);
  assert.equal(new Set(serials).size, serials.length, "no serial issued twice");
  assert.ok(serialFile(cadir) > Math.max(...serials), "the counter points past every issued serial");
  const pem = (n: string) => fs.readFileSync(path.join(cadir, n), "utf8");
  for (const n of names) assert.ok(verifyWithCrl(pem("ca_crt.pem"), pem("ca_crl.pem"), pem(`signed/${n}.pem`)).ok, n);

  // A last burst after sustained demand (the next block is 64) with nobody allocating after
  // it: what is left of the block goes back.
  // The requests are made first: making five keys with openssl can take over a second on a
  // loaded machine, and after a quiet second the reserve rightly shrinks back to one.
  const more = Array.from({ length: 5 }, (_, i) => `late${i}.example.com`).map((n) => ({ n, csr: opensslCsr(n).csrPem }));
  // Whatever the rounds above left in the reserve (it depends on how requests were batched)
  // is drained first, so the late burst has to take a fresh block.
  await releaseReservedSerials(serverStore);
  for (let i = 0; i < 8; i++) serialReserveFor(serverStore).sizeFor(1);
  await Promise.all(more.map(({ n, csr }) => server.submitRequest(n, csr, actor)));
  const before = serialFile(cadir);
  const returned = await releaseReservedSerials(serverStore);
  const last = Math.max(...inventorySerials(cadir));
  assert.ok(before > last + 1 && returned > 0, `a block was reserved (counter ${before}, last issued ${last}) and returned (${returned})`);
  assert.equal(serialFile(cadir), last + 1, "the counter is back just past the last issued serial");
  assert.equal(await releaseReservedSerials(serverStore), 0, "nothing left to return twice");
});
