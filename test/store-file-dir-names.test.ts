/**
 * A directory's names read on a worker thread (src/store/file/dir-names.ts), as the settle-time
 * check of a large signed/ reads them: every name, byte for byte what readdir gives, and an
 * error a caller can act on when the directory is gone.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readNamesOffThread, sameNames } from "../src/store/file/dir-names.js";
import { encodeRecord, JournalFile, makeEntry, type JournalRecord } from "../src/store/file/journal.js";
import { PackedTable } from "../src/store/file/packed-table.js";
import { tmpDir } from "./helpers/openssl.js";

test("reads every name of a directory off the event loop, NUL-separated, as readdir gives them", async () => {
  const dir = join(tmpDir(), "signed");
  mkdirSync(dir);
  const files = ["a.example.com.pem", "émile.example.com.pem", "\u{1F600}.pem", ".fleetca-tmp-a.example.com.pem-1-x", "back\\slash.pem", "notes.txt"];
  for (const f of files) writeFileSync(join(dir, f), "x");
  const names = (await readNamesOffThread(dir)).toString("utf8").split("\0");
  assert.deepEqual(names.sort(), readdirSync(dir).sort());
  assert.deepEqual([...names].sort(), [...files].sort());

  const empty = join(tmpDir(), "empty");
  mkdirSync(empty);
  assert.equal((await readNamesOffThread(empty)).length, 0);
  await assert.rejects(readNamesOffThread(join(empty, "missing")), /ENOENT/);
});

test("compares a directory's PEM files with the index's names, past temporary and stray files", async () => {
  const dir = join(tmpDir(), "signed");
  mkdirSync(dir);
  const held = ["a.example.com", "émile.example.com", "\u{1F600}", "z"];
  for (const n of held) writeFileSync(join(dir, `${n}.pem`), "x");
  // Not certificates of a name: a writer's temporary file, another file, a name no store writes.
  for (const f of [".fleetca-tmp-a.example.com.pem-1-x", "notes.txt", "back\\slash.pem"]) writeFileSync(join(dir, f), "x");
  const table = new PackedTable("certificate");
  const put = (name: string) => table.put({ entry: makeEntry("certificate", name, { sha256: "AB", altNames: [], authExtensions: {}, serial: 2n }), size: 1, mtimeMs: 1 });
  for (const n of held) put(n);
  const names = await readNamesOffThread(dir);
  assert.equal(await sameNames(names, table), true);
  // One more in the index, or one more on disk: not the same.
  put("b.example.com");
  assert.equal(await sameNames(names, table), false);
  table.delete("b.example.com");
  table.delete("émile.example.com");
  assert.equal(await sameNames(names, table), false, "a non-ASCII name on disk the index does not hold");
  put("emile.example.com");
  assert.equal(await sameNames(names, table), false, "as many names, one of them another");
  table.delete("emile.example.com");
  put("émile.example.com");
  assert.equal(await sameNames(names, table), true);
});

test("peeks at the journal's tail for the last word on a directory, without reading the rest", () => {
  const path = join(tmpDir(), "fleetca_index.jsonl");
  const entry = makeEntry("certificate", "a", { sha256: "AB", altNames: [], authExtensions: {}, serial: 2n });
  const write = (records: JournalRecord[]) => writeFileSync(path, `{"op":"hdr","gen":"0a"}\n${records.map((r) => `${encodeRecord(r)}\n`).join("")}`);
  const journal = new JournalFile(path);
  assert.equal(journal.peekDirMark("certificate"), undefined, "no journal yet");
  write([{ op: "dir", kind: "certificate", mtimeNs: "100", settled: true }, { op: "put", kind: "certificate", rec: { entry, size: 1, mtimeMs: 1 }, dir: "200" }, { op: "dir", kind: "request", mtimeNs: "300", settled: false }]);
  assert.deepEqual(journal.peekDirMark("certificate"), { mtimeNs: "200", settled: false }, "a write of ours leaves the directory unsettled");
  assert.deepEqual(journal.peekDirMark("request"), { mtimeNs: "300", settled: false });
  write([{ op: "put", kind: "certificate", rec: { entry, size: 1, mtimeMs: 1 }, dir: "200" }, { op: "dir", kind: "certificate", mtimeNs: "200", settled: true }]);
  assert.deepEqual(journal.peekDirMark("certificate"), { mtimeNs: "200", settled: true });
  // Beyond the window: not known from the tail (the index's own load says).
  write([{ op: "dir", kind: "certificate", mtimeNs: "100", settled: true }, ...Array.from({ length: 50 }, (_, i): JournalRecord => ({ op: "put", kind: "request", rec: { entry: makeEntry("request", `r${i}`, { sha256: "AB", altNames: [], authExtensions: {} }), size: 1, mtimeMs: 1 } }))]);
  assert.deepEqual(journal.peekDirMark("certificate"), { mtimeNs: "100", settled: true });
  assert.equal(journal.peekDirMark("certificate", 1000), undefined);
});
