/**
 * The file store's "only inside withLock" checks as a server runs them: without
 * FLEETCA_LOCK_CHECKS (the call-chain check, which turns on promise hooks for the whole
 * process, is the test suite's; store-file.test.ts runs with it), a serial is still refused
 * to a caller while this process does not hold the CA lock, and given inside it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { FileStore } from "../src/store/file/index.js";

const root = mkdtempSync(join(tmpdir(), "fleetca-lockmode-"));
after(() => rmSync(root, { recursive: true, force: true }));

it("without the call-chain check, serials are refused outside withLock and handed out once each inside it", async () => {
  assert.equal(process.env.FLEETCA_LOCK_CHECKS, undefined, "this file tests the server's mode: run it without FLEETCA_LOCK_CHECKS");
  const cadir = join(root, "ca");
  const store = new FileStore(cadir);
  const material = { certPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", keyPem: `-----BEGIN ${"EC PRIVATE"} KEY-----\nK\n-----END ${"EC PRIVATE"} KEY-----\n`, publicKeyPem: "-----BEGIN PUBLIC KEY-----\nP\n-----END PUBLIC KEY-----\n", crlPem: "-----BEGIN X509 CRL-----\nC\n-----END X509 CRL-----\n" };
  await store.initialize(material, { firstSerial: 5n });
  await assert.rejects(store.allocateSerial(), /inside withLock/);
  const got = await Promise.all(Array.from({ length: 8 }, () => store.withLock(() => store.allocateSerial())));
  assert.deepEqual([...got].sort((a, b) => Number(a - b)), [5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n]);
  assert.equal(readFileSync(join(cadir, "serial"), "utf8"), "000D");
  await assert.rejects(store.allocateSerial(), /inside withLock/, "after the last holder let go");
});
