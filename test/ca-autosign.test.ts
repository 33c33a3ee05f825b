/** Autosigned submissions are signed straight away, once per name, without a request left behind. */
import { localPrincipal } from "../src/ca/principal.js";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { AUTOSIGN_ON } from "../src/ca/autosign.js";
import { setupCa } from "../src/ca/setup.js";
import { FileStore } from "../src/store/file/index.js";
import { opensslCsr } from "./helpers/cli.js";
import { tmpDir, verifyWithCrl } from "./helpers/openssl.js";

const settings = { caTtl: 86_400, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false };
const actor = localPrincipal("test", "127.0.0.1");

async function autosigningCa() {
  const cadir = path.join(tmpDir(), "ca");
  const store = new FileStore(cadir);
  await setupCa(store, { caName: "Puppet CA: t", key: { type: "ec", curve: "P-256" }, caTtl: 86_400 * 365, now: new Date() });
  return { cadir, ca: new CertificateAuthority({ store, settings, autosigner: AUTOSIGN_ON }) };
}

test("two submissions of one name at once: one certificate, the other refused as a duplicate", async () => {
  const { cadir, ca } = await autosigningCa();
  const a = opensslCsr("twice.example.com").csrPem;
  const b = opensslCsr("twice.example.com").csrPem;
  const results = await Promise.allSettled([ca.submitRequest("twice.example.com", a, actor), ca.submitRequest("twice.example.com", b, actor)]);
  const ok = results.filter((r) => r.status === "fulfilled");
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  assert.equal(ok.length, 1);
  assert.equal(refused.length, 1);
  assert.match(String(refused[0]!.reason.message), /twice.example.com already has a (requested|signed) certificate/);
  const inventory = fs.readFileSync(path.join(cadir, "inventory.txt"), "utf8").trimEnd().split("\n");
  assert.equal(inventory.filter((l) => l.endsWith("/CN=twice.example.com")).length, 1);
  assert.deepEqual(fs.readdirSync(path.join(cadir, "requests")), []);
  const pem = (n: string) => fs.readFileSync(path.join(cadir, n), "utf8");
  assert.ok(verifyWithCrl(pem("ca_crt.pem"), pem("ca_crl.pem"), pem("signed/twice.example.com.pem")).ok);
});

test("an autosigned request that breaks the signing policy stays pending with the policy's message", async () => {
  const { cadir, ca } = await autosigningCa();
  const { csrPem } = opensslCsr("alts.example.com", { san: "DNS:alts.example.com,DNS:other.example.com" });
  await assert.rejects(ca.submitRequest("alts.example.com", csrPem, actor), /extra subject alternative names \(DNS:other.example.com\)/);
  assert.deepEqual(fs.readdirSync(path.join(cadir, "requests")), ["alts.example.com.pem"]);
  assert.equal((await ca.statuses("requested")).map((s) => s.name).join(), "alts.example.com");
});
