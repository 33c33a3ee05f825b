/**
 * An intermediate CA's CRL chain, made at test time with openssl: a root CA, an intermediate
 * under it taken over with `fleetca ca import` (its CRL, then the root's, in ca_crl.pem).
 * Revoking keeps the root's CRL after the CA's own; PUT certificate_revocation_list (admin)
 * takes a newer root CRL and signs the CA's own CRL again in front of it, with Puppet 7's
 * rules and answers; `openssl verify -crl_check_all` checks every certificate of the chain.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { publishCrl } from "../src/ca/crl-publish.js";
import { generateCertificate } from "../src/ca/generate.js";
import { crlStateFromDer, withRevocations } from "../src/pki/crl.js";
import { pemBlocks } from "../src/pki/pem.js";
import { buildApp } from "../src/server/app.js";
import { FileStore } from "../src/store/file/index.js";
import { fleetca } from "./helpers/cli.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { makeIntermediate, makeRoot, run, type OpensslCa } from "./helpers/openssl-ca.js";
import { as, EC, headerPeer, memoryLogger, TEST_BY, testSettings, V1, type Identity } from "./helpers/server-fixture.js";
import type { FastifyInstance } from "fastify";

const dir = tmpDir("fleetca-crl-chain-");
const f = (name: string) => path.join(dir, name);

const gencrl = (ca: OpensslCa, out: string): string => ca.gencrl(out);
const crlNumbers = (pem: string) => pemBlocks(pem).filter((b) => b.label === "X509 CRL").map((b) => crlStateFromDer(b.der).crlNumber);

/** `openssl verify -crl_check_all`: every certificate of the chain against its issuer's CRL. */
function verifyAll(bundle: string, crls: string, certPem: string) {
  fs.writeFileSync(f("v-bundle.pem"), bundle);
  fs.writeFileSync(f("v-crls.pem"), crls);
  fs.writeFileSync(f("v-cert.pem"), certPem);
  return openssl(["verify", "-crl_check_all", "-CAfile", f("v-bundle.pem"), "-CRLfile", f("v-crls.pem"), f("v-cert.pem")]);
}

let root: OpensslCa;
let bundle: string;
let cadir: string;
let app: FastifyInstance;
let ca: CertificateAuthority;
let admin: Identity;
let agent: Identity;

const getCrl = async () => (await app.inject({ url: `${V1}/certificate_revocation_list/ca` })).body;
const putCrl = (body: string, who: Identity | "anonymous" = admin) =>
  app.inject({ method: "PUT", url: `${V1}/certificate_revocation_list`, payload: body, headers: as(who === "anonymous" ? undefined : who, { "content-type": "text/plain" }) });

async function issue(name: string, cliAuth = false): Promise<Identity> {
  const g = await generateCertificate(ca, name, { by: TEST_BY, key: EC, cliAuth });
  return { name, certPem: g.certPem, keyPem: g.keyPem, der: g.cert.der };
}

before(async () => {
  root = makeRoot(dir, "Test Root CA");
  const inter = makeIntermediate(dir, root, "Puppet CA: inter.test", 2);
  fs.copyFileSync(inter.certFile, f("inter.pem"));
  bundle = fs.readFileSync(inter.certFile, "utf8") + fs.readFileSync(root.certFile, "utf8");
  fs.writeFileSync(f("bundle.pem"), bundle);
  fs.writeFileSync(f("chain-crl.pem"), gencrl(inter, f("inter-crl.pem")) + gencrl(root, f("root-crl1.pem")));
  cadir = f("cadir");
  const r = await fleetca(["ca", "import", "--cadir", cadir, "--cert-bundle", f("bundle.pem"), "--private-key", inter.keyFile, "--crl-chain", f("chain-crl.pem"), "--next-serial", "10"]);
  assert.equal(r.code, 0, r.stderr);
  const settings = testSettings({ cadir });
  ca = new CertificateAuthority({ store: new FileStore(cadir), settings });
  admin = await issue("admin.test", true);
  agent = await issue("agent.test");
  app = buildApp({ ca, settings, log: memoryLogger().log, peer: headerPeer });
  await app.ready();
});

after(async () => {
  await app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("an intermediate CA's CRL chain", () => {
  test("the imported chain is served whole, and every certificate verifies against it with -crl_check_all", async () => {
    const crl = await getCrl();
    assert.deepEqual(crlNumbers(crl), [0n, 1n], "the CA's CRL first, then the root's");
    const r = verifyAll(bundle, crl, agent.certPem);
    assert.ok(r.ok, r.out);
  });

  test("revoking keeps the root's CRL after the CA's own (it used to be dropped)", async () => {
    const victim = await issue("victim.test");
    const before = await getCrl();
    await ca.revoke([victim.name], TEST_BY);
    const crl = await getCrl();
    assert.deepEqual(crlNumbers(crl), [1n, 1n]);
    assert.equal(pemBlocks(crl)[1]!.der.toString("base64"), pemBlocks(before)[1]!.der.toString("base64"), "the root's CRL byte for byte");
    assert.equal(fs.readFileSync(path.join(cadir, "ca_crl.pem"), "utf8"), crl, "ca_crl.pem holds the same chain");
    assert.ok(verifyAll(bundle, crl, agent.certPem).ok, "a valid certificate still verifies: the root's CRL is there");
    const revoked = verifyAll(bundle, crl, victim.certPem);
    assert.ok(!revoked.ok);
    assert.match(revoked.out, /certificate revoked/);
  });

  test("PUT: a newer root CRL replaces the stored one; the CA's own CRL is signed again in front of it", async () => {
    // The root revokes something else: its CRL number goes to 2.
    const other = makeIntermediate(dir, root, "other intermediate", 3);
    root.revoke(other.certFile);
    const rootCrl2 = gencrl(root, f("root-crl2.pem"));
    const own = crlNumbers(await getCrl())[0]!;
    const r = await putCrl(rootCrl2);
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.body, "Successfully updated CRLs.");
    assert.equal(r.headers["content-type"], "text/plain;charset=utf-8");
    const crl = await getCrl();
    assert.deepEqual(crlNumbers(crl), [own + 1n, 2n], "own CRL re-signed (number up by one), root CRL 2 after it");
    assert.equal(pemBlocks(crl)[1]!.der.toString("base64"), pemBlocks(rootCrl2)[0]!.der.toString("base64"));
    assert.equal(fs.readFileSync(path.join(cadir, "ca_crl.pem"), "utf8"), crl);
    assert.ok(verifyAll(bundle, crl, agent.certPem).ok, "-crl_check_all after the update");
    const audit = await ca.auditLog({ action: "crl-updated" });
    assert.match(audit.at(-1)?.detail ?? "", /Test Root CA: CRL 1 -> 2/);
  });

  test("PUT: the same or an older root CRL, or the CA's own, change nothing and sign nothing", async () => {
    const before = await getCrl();
    const ownOnly = before.slice(0, before.indexOf("-----BEGIN X509 CRL-----", 1));
    for (const body of [fs.readFileSync(f("root-crl2.pem"), "utf8"), fs.readFileSync(f("root-crl1.pem"), "utf8"), ownOnly]) {
      const r = await putCrl(body);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.body, "Successfully updated CRLs.");
    }
    assert.equal(await getCrl(), before, "nothing re-signed");
  });

  test("PUT refusals: garbage, a forged root CRL, one that revokes this CA, a non-admin", async () => {
    const garbage = await putCrl("garbage");
    assert.equal(garbage.statusCode, 400);
    assert.equal(garbage.body, "No valid CRLs submitted.");
    // Signed by another key under the root's name.
    const forger = makeRoot(path.join(dir, "forger"), "Test Root CA", "09");
    const forged = await putCrl(gencrl(forger, f("forged.pem")));
    assert.equal(forged.statusCode, 400);
    assert.match(forged.body, /^The CRL of "Test Root CA" \(number 9\) is not signed by the key of that CA's certificate/);
    // The root revokes the intermediate itself.
    // On a copy of the root's database, so the root's real CRLs stay as they are.
    const copy = path.join(dir, "root-copy");
    fs.cpSync(path.dirname(root.cnf), copy, { recursive: true });
    fs.writeFileSync(path.join(copy, "ca.cnf"), fs.readFileSync(root.cnf, "utf8").replaceAll(`${path.dirname(root.cnf)}/index.txt`, `${copy}/index.txt`).replaceAll(`${path.dirname(root.cnf)}/crlnumber`, `${copy}/crlnumber`));
    const cnf = path.join(copy, "ca.cnf");
    run(["ca", "-config", cnf, "-revoke", f("inter.pem")]);
    run(["ca", "-config", cnf, "-gencrl", "-out", f("root-revokes-inter.pem")]);
    const bad = await putCrl(fs.readFileSync(f("root-revokes-inter.pem"), "utf8"));
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /revokes "Puppet CA: inter.test" \(serial 2\) of this CA's own chain; nothing was updated\.$/);
    const before = await getCrl();
    for (const who of [agent, "anonymous"] as const) {
      const r = await putCrl(fs.readFileSync(f("root-crl2.pem"), "utf8"), who);
      assert.equal(r.statusCode, 403);
      assert.equal(r.body, "Forbidden request: /puppet-ca/v1/certificate_revocation_list (method :put). Please see the server logs for details.");
    }
    assert.equal(await getCrl(), before);
    const refused = await ca.auditLog({ action: "crl-updated" });
    assert.ok(refused.some((a) => a.outcome === "refused" && /revokes/.test(a.reason ?? "")));
  });

  test("a revoke after the update keeps the new root CRL; expirations lists both CRLs", async () => {
    const v2 = await issue("victim2.test");
    await ca.revoke([v2.name], TEST_BY);
    const crl = await getCrl();
    assert.equal(crlNumbers(crl)[1], 2n);
    assert.ok(verifyAll(bundle, crl, agent.certPem).ok);
    assert.ok(!verifyAll(bundle, crl, v2.certPem).ok);
    const exp = JSON.parse((await app.inject({ url: `${V1}/expirations`, headers: as(agent) })).body) as { crls: Record<string, string> };
    assert.deepEqual(Object.keys(exp.crls), ["Puppet CA: inter.test", "Test Root CA"]);
  });

  test("`fleetca ca update-crls FILE` does the same without a server", async () => {
    const third = makeIntermediate(dir, root, "third intermediate", 4);
    root.revoke(third.certFile);
    gencrl(root, f("root-crl3.pem"));
    const before = crlNumbers(await getCrl())[0]!;
    const r = await fleetca(["ca", "update-crls", f("root-crl3.pem"), "--cadir", cadir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Updated the CRL of Test Root CA: number 2 -> 3.\nSigned this CA's CRL again in front of them: number ${before + 1n}.\nSuccessfully updated CRLs.`);
    await ca.current(true);
    const crl = await getCrl();
    assert.deepEqual(crlNumbers(crl), [before + 1n, 3n], "the server serves what the CLI wrote");
    assert.ok(verifyAll(bundle, crl, agent.certPem).ok);
    const again = await fleetca(["ca", "update-crls", f("root-crl3.pem"), "--cadir", cadir]);
    assert.equal(again.code, 0);
    assert.match(again.stderr, /Kept the CRL of Test Root CA: the uploaded one \(number 3\) is not newer than the stored one \(3\)\./);
    const bad = await fleetca(["ca", "update-crls", f("v-cert.pem"), "--cadir", cadir]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "Error: No valid CRLs submitted.");
  });

  test("the staged CRL write (a CRL over 64 KiB) keeps the outer CRLs after it too", async () => {
    const store = new FileStore(cadir);
    const material = await ca.current(true);
    const now = new Date();
    const many = Array.from({ length: 3000 }, (_, i) => ({ serial: 0x100000n + BigInt(i), when: now }));
    const state = withRevocations(material.crl, many, now, new Date(now.getTime() + 86_400_000));
    const published = await publishCrl(store, state, material.key!, material.crlEncoded, material.outerCrlPem);
    const file = fs.readFileSync(path.join(cadir, "ca_crl.pem"), "latin1");
    assert.ok(file.length > 64 * 1024);
    assert.equal(file, published.pem.toString("latin1") + material.outerCrlPem);
    assert.deepEqual(crlNumbers(file), [state.crlNumber, ...crlNumbers(material.outerCrlPem)]);
    assert.ok(verifyAll(bundle, file, agent.certPem).ok, openssl(["crl", "-in", path.join(cadir, "ca_crl.pem"), "-noout"]).out);
  });
});
