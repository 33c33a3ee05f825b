/**
 * Large CRLs are written in stages (the middle while the CA key signs, the ends after): the
 * file must still be exactly the canonical PEM of a CRL openssl accepts, replaced atomically,
 * and left alone when the second stage fails.
 */
import { localPrincipal } from "../src/ca/principal.js";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { CertificateAuthority } from "../src/ca/authority.js";
import { AUTOSIGN_ON } from "../src/ca/autosign.js";
import { setupCa } from "../src/ca/setup.js";
import { fromPem, toPem } from "../src/pki/pem.js";
import { listRevoked } from "../src/pki/crl.js";
import { TEMP_PREFIX, writeFileAtomicStaged } from "../src/store/file/atomic.js";
import { FileStore } from "../src/store/file/index.js";
import { opensslCsr } from "./helpers/cli.js";
import { openssl, tmpDir, verifyWithCrl } from "./helpers/openssl.js";

const settings = { caTtl: 86_400, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false };
const actor = localPrincipal("test", "127.0.0.1");

for (const key of [{ type: "rsa", bits: 2048 } as const, { type: "ec", curve: "P-256" } as const]) {
  test(`revokes on a CRL over 64 KiB (${key.type}): canonical PEM, verified by openssl, no temporary files left`, async () => {
    const cadir = path.join(tmpDir(), "ca");
    const store = new FileStore(cadir);
    await setupCa(store, { caName: "Puppet CA: staged", key, caTtl: 86_400 * 365, now: new Date() });
    const ca = new CertificateAuthority({ store, settings, autosigner: AUTOSIGN_ON });
    await ca.revokeSerials(Array.from({ length: 3000 }, (_, i) => 0x7f_0000_0000n + BigInt(i)), actor);
    const names = ["a.example.com", "b.example.com", "c.example.com"];
    for (const n of names) await ca.submitRequest(n, opensslCsr(n).csrPem, actor);
    // One revoke after another in one process: the second and third reuse the previous PEM's lines.
    for (const n of names) await ca.revoke([n], actor);
    const crlPem = fs.readFileSync(path.join(cadir, "ca_crl.pem"), "utf8");
    const der = fromPem(crlPem, ["X509 CRL"], "CRL");
    assert.equal(crlPem, toPem(der, "X509 CRL"), "byte for byte what a one-piece write gives");
    assert.equal(listRevoked(der).length, 3003);
    assert.equal(crlPem, await ca.crlPem(), "the CRL served is the one on disk");
    const caPem = fs.readFileSync(path.join(cadir, "ca_crt.pem"), "utf8");
    const check = openssl(["crl", "-noout", "-CAfile", path.join(cadir, "ca_crt.pem"), "-in", path.join(cadir, "ca_crl.pem")]);
    assert.match(check.out, /verify OK/);
    for (const n of names) {
      const r = verifyWithCrl(caPem, crlPem, fs.readFileSync(path.join(cadir, "signed", `${n}.pem`), "utf8"));
      assert.equal(r.ok, false, `${n} is refused as revoked`);
      assert.match(r.out, /revoked/);
    }
    assert.deepEqual(fs.readdirSync(cadir).filter((f) => f.startsWith(TEMP_PREFIX)), []);
  });
}

test("a staged write puts before + middle + after in place; a failed second stage changes nothing", async () => {
  const dir = tmpDir();
  const file = path.join(dir, "ca_crl.pem");
  fs.writeFileSync(file, "old content\n");
  const middle = { offset: 6, bytes: Buffer.from("MIDDLE".repeat(10_000)) };
  await writeFileAtomicStaged(file, middle, Promise.resolve({ before: Buffer.from("begin\n"), after: Buffer.from("\nend\n") }), 0o644);
  assert.equal(fs.readFileSync(file, "utf8"), `begin\n${"MIDDLE".repeat(10_000)}\nend\n`);
  assert.equal((fs.statSync(file).mode & 0o777).toString(8), "644");

  const before = fs.readFileSync(file, "utf8");
  await assert.rejects(writeFileAtomicStaged(file, middle, Promise.reject(new Error("signing failed")), 0o644), /signing failed/);
  await assert.rejects(
    writeFileAtomicStaged(file, middle, Promise.resolve({ before: Buffer.from("too long\n"), after: Buffer.alloc(0) }), 0o644),
    /the part before the middle is 9 bytes, expected 6/,
  );
  assert.equal(fs.readFileSync(file, "utf8"), before, "the file is untouched");
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(TEMP_PREFIX)), [], "no temporary file is left behind");
});
