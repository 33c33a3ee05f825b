/**
 * inventory.txt by name (src/store/file/inventory-names.ts): what revoke and clean read to
 * find every certificate issued to a name. A lookup before the table is built searches the
 * bytes, later ones use the table and follow the file; both must give the same lines,
 * whatever the file does in between (appended by another tool, renewed names, replaced).
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { formatInventoryLine, parseInventory } from "../src/store/file/formats.js";
import { InventoryNames } from "../src/store/file/inventory-names.js";

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const NB = new Date("2026-01-01T00:00:00Z");
const NA = new Date("2031-01-01T00:00:00Z");
const line = (serial: number, name: string) => formatInventoryLine({ serial: BigInt(serial), notBefore: NB, notAfter: NA, subject: `/CN=${name}` });

function fresh(lines: string): string {
  const dir = mkdtempSync(join(tmpdir(), "fleetca-invnames-"));
  roots.push(dir);
  const path = join(dir, "inventory.txt");
  writeFileSync(path, lines);
  return path;
}

const serialsOf = (text: string) => parseInventory(text).map((e) => Number(e.serial));

describe("inventory.txt by name", () => {
  it("finds a name's lines the same way before the table is built (byte search) and after, renewals included", async () => {
    // 60,000 lines: ~5 MB, more than one read of the byte search (4 MB), so lines across a read's end are found too.
    const parts: string[] = [];
    for (let i = 1; i <= 60_000; i++) parts.push(line(i, `node${i}.example.com`));
    // A renewal: node7 again, and a name that ends like another one must not match it.
    const text = parts.join("") + line(60_001, "node7.example.com") + line(60_002, "xnode8.example.com");
    const path = fresh(text);
    const names = InventoryNames.for(path);
    const want: Record<string, number[]> = { "node7.example.com": [7, 60_001], "node8.example.com": [8], "node59999.example.com": [59_999], "absent.example.com": [] };
    for (let i = 1; i <= 60_000; i += 3_917) want[`node${i}.example.com`] = [i];
    for (let round = 0; round < 3; round++) {
      for (const [name, serials] of Object.entries(want)) assert.deepEqual(serialsOf(names.linesFor([name])), serials, `${name}, lookup round ${round}`);
      await names.built();
    }
    assert.deepEqual(serialsOf(names.linesFor(["node1.example.com", "node2.example.com", "node1.example.com"])), [1, 2]);
  });

  it("follows lines appended after the table was built, and a last line written without its newline", async () => {
    const path = fresh(line(2, "a.example.com") + line(3, "b.example.com"));
    const names = InventoryNames.for(path);
    names.linesFor(["a.example.com"]);
    await names.built();
    assert.deepEqual(serialsOf(names.linesFor(["a.example.com"])), [2]);
    appendFileSync(path, line(4, "c.example.com") + line(5, "a.example.com"));
    assert.deepEqual(serialsOf(names.linesFor(["a.example.com"])), [2, 5]);
    assert.deepEqual(serialsOf(names.linesFor(["c.example.com"])), [4]);
    // Another tool's line without its newline yet: still found, and found again once it has one.
    appendFileSync(path, line(6, "d.example.com").trimEnd());
    assert.deepEqual(serialsOf(names.linesFor(["d.example.com"])), [6]);
    appendFileSync(path, "\n");
    assert.deepEqual(serialsOf(names.linesFor(["d.example.com"])), [6]);
  });

  it("starts over when the file is replaced or shortened", async () => {
    const path = fresh(line(2, "a.example.com") + line(3, "b.example.com"));
    const names = InventoryNames.for(path);
    names.linesFor(["a.example.com"]);
    await names.built();
    assert.deepEqual(serialsOf(names.linesFor(["b.example.com"])), [3]);
    const next = `${path}.new`;
    writeFileSync(next, line(9, "b.example.com") + line(10, "e.example.com") + line(11, "f.example.com"));
    renameSync(next, path);
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(serialsOf(names.linesFor(["b.example.com"])), [9]);
      assert.deepEqual(serialsOf(names.linesFor(["a.example.com"])), []);
      await names.built();
    }
    writeFileSync(path, line(12, "a.example.com"));
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(serialsOf(names.linesFor(["a.example.com"])), [12]);
      await names.built();
    }
    rmSync(path);
    assert.equal(names.linesFor(["a.example.com"]), "");
  });
});
