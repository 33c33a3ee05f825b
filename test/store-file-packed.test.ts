/**
 * The packed index (src/store/file/packed-table.ts): journal lines kept as bytes, found by
 * a hash of their names, listed in code-unit order through a permutation. Checked against
 * what a plain Map and a sort would say, over the cases the journal brings: a name put
 * again (a superseded line), removed and put back, lines that are not of the usual form,
 * names with characters past ASCII, and many removals (the table compacts itself).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { IndexEntry } from "../src/ca/store.js";
import { encodeRecord, makeEntry, type IndexRecord } from "../src/store/file/journal.js";
import { PackedTable } from "../src/store/file/packed-table.js";

const SHA = (n: number) => Array.from({ length: 32 }, (_, i) => ((n * 7 + i) & 0xff).toString(16).toUpperCase().padStart(2, "0")).join(":");

function cert(name: string, serial: bigint, extra: Partial<IndexEntry> = {}): IndexRecord {
  const entry = makeEntry("certificate", name, {
    sha256: SHA(Number(serial % 1000n)),
    altNames: [`DNS:${name}`],
    authExtensions: {},
    serial,
    notBefore: new Date(1_700_000_000_000),
    notAfter: new Date(1_800_000_000_000 + Number(serial % 1000n)),
    ...extra,
  });
  return { entry, size: 800 + Number(serial % 100n), mtimeMs: 1_700_000_000_123.5 };
}

/** The record as the journal line bytes readNew hands putLine (RS at 0, end at the newline). */
function lineOf(rec: IndexRecord): Buffer {
  return Buffer.from(`${encodeRecord({ op: "put", kind: "certificate", rec })}\n`, "utf8");
}

function fields(e: IndexEntry | undefined): unknown {
  if (!e) return undefined;
  return [e.name, e.state, e.sha256, [...e.altNames], { ...e.authExtensions }, e.serial, e.notBefore?.getTime(), e.notAfter?.getTime()];
}

function codeUnitSort(names: string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function listed(t: PackedTable): string[] {
  const rows = t.sorted();
  return Array.from({ length: rows.size }, (_, i) => rows.name(i));
}

describe("packed index table", () => {
  it("takes usual journal lines as bytes and gives every field back", () => {
    const t = new PackedTable("certificate");
    const recs = [cert("b.example.com", 2n), cert("a.example.com", 0x1fffffffffffffn), cert("c.example.com", 0x1234567890abcdef0123n)];
    for (const r of recs) {
      const buf = lineOf(r);
      assert.equal(t.putLine(buf, 0, buf.length - 1), true, "a usual line is taken as bytes");
    }
    for (const r of recs) {
      assert.deepEqual(fields(t.get(r.entry.name)?.entry), fields(r.entry));
      assert.equal(t.get(r.entry.name)?.size, r.size);
      assert.equal(t.get(r.entry.name)?.mtimeMs, r.mtimeMs);
    }
    assert.deepEqual(listed(t), ["a.example.com", "b.example.com", "c.example.com"]);
    const rows = t.sorted();
    assert.equal(rows.sha256(0), recs[1]!.entry.sha256);
    assert.equal(rows.serial(2), 0x1234567890abcdef0123n);
    assert.equal(rows.plainAltNames(1), true);
    assert.deepEqual(fields(t.bySerial(0x1234567890abcdef0123n)), fields(recs[2]!.entry));
    assert.equal(t.get("d.example.com"), undefined);
  });

  it("keeps the usual fingerprint packed and writes every line back byte for byte (compaction), other fingerprints as read", () => {
    const t = new PackedTable("certificate");
    const usual = cert("a.example.com", 10n);
    const lower = cert("b.example.com", 11n, { sha256: SHA(5).toLowerCase() });
    const short = cert("c.example.com", 12n, { sha256: "AB:CD" });
    const noColons = cert("d.example.com", 13n, { sha256: SHA(6).replace(/:/g, "-") });
    const byPut = cert("e.example.com", 0xffn, { sha256: SHA(255) });
    const recs = [usual, lower, short, noColons];
    const text = recs.map((r) => lineOf(r).toString("utf8")).join("");
    const all = Buffer.from(text, "utf8");
    for (let from = 0, nl = all.indexOf(0x0a); nl >= 0; from = nl + 1, nl = all.indexOf(0x0a, from)) assert.equal(t.putLine(all, from, nl), true);
    t.put(byPut);
    for (const r of [...recs, byPut]) {
      assert.deepEqual(fields(t.get(r.entry.name)?.entry), fields(r.entry), r.entry.name);
      assert.equal(t.get(r.entry.name)?.mtimeMs, r.mtimeMs);
    }
    const rows = t.sorted();
    const into = Buffer.alloc(200);
    for (let i = 0; i < rows.size; i++) {
      assert.equal(rows.sha256(i), [...recs, byPut][i]!.entry.sha256);
      assert.equal(into.toString("latin1", 0, rows.copySha256(i, into, 0)), rows.sha256(i));
      assert.equal(rows.serialKey(i), Number([...recs, byPut][i]!.entry.serial));
    }
    const back = Buffer.concat(t.lines((rec) => encodeRecord({ op: "put", kind: "certificate", rec }))).toString("utf8");
    assert.equal(back, text + lineOf(byPut).toString("utf8"));
  });

  it("leaves to the text decoder the lines it does not check whole (markers, unusual fields, torn lines)", () => {
    const t = new PackedTable("certificate");
    const usual = lineOf(cert("x", 1n)).toString("utf8").trimEnd();
    const withMarker = usual.split("\t");
    withMarker[10] = "123"; // dir
    const alts = lineOf(cert("y", 2n, { altNames: ["DNS:y", "IP:10.0.0.1"] })).toString("utf8").trimEnd();
    const auth = lineOf(cert("z", 3n, { authExtensions: { pp_cli_auth: "true" } })).toString("utf8").trimEnd();
    const cases = [withMarker.join("\t"), alts, auth, usual.slice(0, 40), `${usual}\tmore`, usual.replace("\t1\t", "\tg1\t"), usual.replace("\t826\t", "\t-\t")];
    for (const text of cases) {
      const buf = Buffer.from(`${text}\n`, "utf8");
      assert.equal(t.putLine(buf, 0, buf.length - 1), false, JSON.stringify(text));
    }
    assert.equal(t.size, 0);
    // Put as records instead, the unusual fields come back whole.
    t.put(cert("y", 2n, { altNames: ["DNS:y", "IP:10.0.0.1"] }));
    t.put(cert("z", 3n, { authExtensions: { pp_cli_auth: "true" } }));
    assert.deepEqual(t.get("y")?.entry.altNames, ["DNS:y", "IP:10.0.0.1"]);
    assert.deepEqual(t.get("z")?.entry.authExtensions, { pp_cli_auth: "true" });
    assert.equal(t.sorted().plainAltNames(0), false);
  });

  it("keeps the last line of a name put again, in its place in the order, and drops a removed one", () => {
    const t = new PackedTable("certificate");
    for (const n of ["m", "c", "x", "a"]) t.put(cert(n, 1n));
    assert.deepEqual(listed(t), ["a", "c", "m", "x"]);
    // Superseded: the same name again with another serial; the first entry handed out is unchanged.
    const before = t.get("c")!.entry;
    t.put(cert("c", 99n));
    assert.equal(before.serial, 1n, "an entry handed out keeps its fields");
    assert.equal(t.get("c")?.entry.serial, 99n);
    assert.equal(t.bySerial(99n)?.name, "c");
    assert.equal(t.size, 4);
    assert.equal(t.delete("m"), true);
    assert.equal(t.delete("m"), false);
    t.put(cert("b", 5n));
    assert.deepEqual(listed(t), ["a", "b", "c", "x"]);
    t.put(cert("m", 6n));
    assert.deepEqual(listed(t), ["a", "b", "c", "m", "x"]);
    assert.equal(t.bySerial(1n)?.name !== "c", true, "the old serial of a name put again no longer finds it");
  });

  it("lists a journal in name order followed by names appended later (only those are sorted)", () => {
    const t = new PackedTable("certificate");
    const ordered = Array.from({ length: 500 }, (_, i) => `node-${String(i).padStart(4, "0")}`);
    for (const n of ordered) {
      const buf = lineOf(cert(n, 1n));
      assert.equal(t.putLine(buf, 0, buf.length - 1), true);
    }
    for (const n of ["agent-z", "node-0100x", "zz", "a"]) t.put(cert(n, 2n));
    t.delete("node-0003");
    t.delete("zz");
    const expected = codeUnitSort([...ordered.filter((n) => n !== "node-0003"), "agent-z", "node-0100x", "a"]);
    assert.deepEqual(listed(t), expected);
    t.put(cert("node-0250a", 3n));
    assert.deepEqual(listed(t), codeUnitSort([...expected, "node-0250a"]));
  });

  it("lists names past ASCII in code-unit order, and keeps a name with a control character as an object", () => {
    const t = new PackedTable("request");
    const names = ["zeta", "\u{1F600}smile", "\uFF21wide", "émile", "alpha", "tab\tname", "Zed"];
    for (const n of names) t.put({ entry: makeEntry("request", n, { sha256: SHA(1), altNames: [], authExtensions: {} }), size: 1, mtimeMs: 2 });
    assert.deepEqual(listed(t), codeUnitSort(names));
    assert.equal(t.get("tab\tname")?.entry.name, "tab\tname");
    const odd = new PackedTable("certificate");
    assert.equal(odd.bySerial(77n), undefined); // the serial index now exists and is followed
    odd.put(cert("ctl\u0001name", 77n));
    assert.equal(odd.bySerial(77n)?.name, "ctl\u0001name", "a name kept as an object is found by its serial");
    assert.equal(t.get("émile")?.entry.sha256, SHA(1));
    const lines = Buffer.concat(t.lines((rec) => encodeRecord({ op: "put", kind: "request", rec }))).toString("utf8").split("\n").slice(0, -1);
    assert.equal(lines.length, names.length);
    assert.equal(lines.filter((l) => l.startsWith("{")).length, 1, "only the name with a tab needs the JSON form");
  });

  it("agrees with a Map through many puts, removals and re-puts (compacting as removals pile up)", () => {
    const t = new PackedTable("certificate");
    const model = new Map<string, bigint>();
    let seed = 12345;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let step = 0; step < 20_000; step++) {
      const name = `n${rand(3000).toString(36)}.example`;
      if (rand(3) === 0) {
        assert.equal(t.delete(name), model.delete(name));
      } else {
        const serial = BigInt(step + 1);
        t.put(cert(name, serial));
        model.set(name, serial);
      }
      if (step % 5000 === 4999) assert.deepEqual(listed(t), codeUnitSort([...model.keys()]));
    }
    assert.equal(t.size, model.size);
    for (const [name, serial] of model) {
      assert.equal(t.get(name)?.entry.serial, serial);
      assert.equal(t.bySerial(serial)?.name, name);
    }
    assert.deepEqual(listed(t), codeUnitSort([...model.keys()]));
  });
});
