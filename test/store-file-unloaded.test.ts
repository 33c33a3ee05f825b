/**
 * The file store in a process that has not loaded its index (a CLI command on one name, a
 * server before its first list): it must answer the same as a loaded index would, from the
 * name's files; start-up recovery lists requests/ only; leftover temporary files in signed/
 * are swept by a server in the background, not by every CLI command.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { CaMaterial, IndexEntry } from "../src/ca/store.js";
import { TEMP_PREFIX } from "../src/store/file/atomic.js";
import { IndexCache } from "../src/store/file/index-cache.js";
import { FileStore } from "../src/store/file/index.js";
import { fakeSummarize } from "./store-file-child.js";

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const material: CaMaterial = {
  certPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
  keyPem: `-----BEGIN ${"RSA PRIVATE"} KEY-----\nKEY\n-----END ${"RSA PRIVATE"} KEY-----\n`,
  publicKeyPem: "-----BEGIN PUBLIC KEY-----\nPUB\n-----END PUBLIC KEY-----\n",
  crlPem: "-----BEGIN X509 CRL-----\nCRL1\n-----END X509 CRL-----\n",
};
const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
const when = new Date("2026-11-22T03:17:34Z");
const until = new Date("2031-11-22T03:17:34Z");

async function newCa(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), "fleetca-unloaded-"));
  roots.push(root);
  const cadir = join(root, "ca");
  const store = new FileStore(cadir);
  await store.initialize(material, { firstSerial: 2n, caInventory: null });
  const summarize = fakeSummarize({ n: 0 });
  for (const name of ["a.example", "b.example", "c.example"]) {
    const e = summarize(name, "request", pem("CERTIFICATE REQUEST", name));
    await store.putRequest(name, pem("CERTIFICATE REQUEST", name), e);
  }
  for (const [name, serial] of [["b.example", 2n], ["d.example", 3n]] as const) {
    // The entry the file summarizes to (the test's summarizer gives every certificate serial 1).
    const entry: IndexEntry = summarize(name, "certificate", pem("CERTIFICATE", name));
    await store.putCertificate(name, pem("CERTIFICATE", name), { serial, notBefore: when, notAfter: until, subject: `/CN=${name}` }, entry);
  }
  // Another tool's half-written file: the index leaves it out, and so must a lookup from the files.
  writeFileSync(join(cadir, "requests", "e.example.pem"), "garbage");
  return cadir;
}

/** A FileStore as a fresh process opens it: no index of this directory loaded yet. */
function freshProcessStore(cadir: string): FileStore {
  IndexCache.forget(join(cadir));
  return new FileStore(cadir);
}

const fields = (e?: IndexEntry) => (e ? [e.name, e.state, e.sha256, [...e.altNames], e.serial ?? null, e.notAfter?.getTime() ?? null] : null);

describe("FileStore before its index is loaded", () => {
  it("answers a lookup by name from the name's files, the same as the loaded index then does", async () => {
    const cadir = await newCa();
    const summarize = fakeSummarize({ n: 0 });
    const names = ["a.example", "b.example", "d.example", "e.example", "zz.example"];
    const unloaded = freshProcessStore(cadir);
    const before = [];
    for (const n of names) before.push(await unloaded.getIndexEntry(n, summarize));
    // Loading the index (a list) switches lookups to it.
    await unloaded.listIndex(summarize);
    for (const [i, n] of names.entries()) {
      const loaded = await unloaded.getIndexEntry(n, summarize);
      assert.deepEqual(fields(before[i]!.request), fields(loaded.request), `${n}'s request`);
      assert.deepEqual(fields(before[i]!.certificate), fields(loaded.certificate), `${n}'s certificate`);
    }
    assert.equal(before[1]!.certificate?.serial, 1n);
    assert.equal(before[1]!.request?.state, "requested");
    assert.deepEqual(before[3], {}, "a file that does not parse is left out");
    assert.deepEqual(before[4], {});
  });

  it("lists the pending requests' names from requests/ alone, without temporary files", async () => {
    const cadir = await newCa();
    writeFileSync(join(cadir, "requests", `${TEMP_PREFIX}f.example.pem.999999999.0123456789ab`), "partial");
    writeFileSync(join(cadir, "requests", "notes.txt"), "not a request");
    assert.deepEqual(await freshProcessStore(cadir).requestNames(), ["a.example", "b.example", "c.example", "e.example"]);
  });

  it("a CLI open leaves signed/'s leftovers alone; a server's open sweeps them in the background", async () => {
    const cadir = await newCa();
    // A writer that is gone (no such pid) left these behind.
    const inSigned = join(cadir, "signed", `${TEMP_PREFIX}x.example.pem.999999999.0123456789ab`);
    const inRequests = join(cadir, "requests", `${TEMP_PREFIX}y.example.pem.999999999.0123456789ab`);
    writeFileSync(inSigned, "partial");
    writeFileSync(inRequests, "partial");
    await FileStore.open(cadir, {}, "quick");
    assert.equal(existsSync(inRequests), false, "requests/ is swept at once");
    assert.equal(existsSync(inSigned), true, "signed/ is left for the server");
    await FileStore.open(cadir, {}, "background");
    for (let i = 0; i < 200 && existsSync(inSigned); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(existsSync(inSigned), false, "swept by the server's open");
  });
});
