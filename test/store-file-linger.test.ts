/**
 * A server's file store keeps the CA lock a moment after each batch (lingerMs) instead of
 * removing and making the lock file per batch; it still lets go by itself, at once on
 * close, and another process asking for the lock meanwhile gets it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { CaMaterial } from "../src/ca/store.js";
import { FileStore, SERVER_LINGER_MS } from "../src/store/file/index.js";

const run = promisify(execFile);
const childScript = fileURLToPath(new URL("./store-file-child.ts", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "fleetca-linger-"));
after(() => rmSync(root, { recursive: true, force: true }));

const material: CaMaterial = {
  certPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
  keyPem: `-----BEGIN ${"EC PRIVATE"} KEY-----\nK\n-----END ${"EC PRIVATE"} KEY-----\n`,
  publicKeyPem: "-----BEGIN PUBLIC KEY-----\nP\n-----END PUBLIC KEY-----\n",
  crlPem: "-----BEGIN X509 CRL-----\nC\n-----END X509 CRL-----\n",
};

let n = 0;
async function serverStore(firstSerial = 1n): Promise<{ cadir: string; store: FileStore; lock: string }> {
  const cadir = join(root, `ca${++n}`);
  const store = new FileStore(cadir, { lingerMs: SERVER_LINGER_MS });
  await store.initialize(material, { firstSerial });
  return { cadir, store, lock: join(cadir, ".fleetca.lock") };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

it("keeps the lock file after a batch, then removes it by itself", async () => {
  const { store, lock } = await serverStore();
  await store.withLock(() => store.allocateSerial());
  assert.ok(existsSync(lock), "still held right after the batch");
  assert.equal(JSON.parse(readFileSync(lock, "utf8")).pid, process.pid);
  await until("let go once no batch followed", () => !existsSync(lock));
});

it("lets go at once on close", async () => {
  const { store, lock } = await serverStore();
  await store.withLock(() => store.allocateSerial());
  assert.ok(existsSync(lock));
  await store.close();
  assert.ok(!existsSync(lock));
});

it("another process asking for the lock gets it while this one keeps batching", async () => {
  const { cadir, store } = await serverStore(0x100n);
  const mine: bigint[] = [];
  let stop = false;
  const batches = (async () => {
    while (!stop) {
      mine.push(await store.withLock(() => store.allocateSerial()));
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  try {
    const { stdout } = await run(process.execPath, ["--import", "tsx", childScript, cadir, "alloc", "20", "cli"], { timeout: 60_000 });
    const theirs = (JSON.parse(stdout) as string[]).map((h) => BigInt(`0x${h}`));
    assert.equal(theirs.length, 20);
    stop = true;
    await batches;
    assert.equal(new Set([...mine, ...theirs]).size, mine.length + theirs.length, "no serial given twice");
    assert.ok(mine.length > 0);
  } finally {
    stop = true;
    await batches;
    await store.close();
  }
});
