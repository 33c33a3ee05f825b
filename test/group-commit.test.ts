import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GroupCommit } from "../src/lib/group-commit.js";

/** A GroupCommit whose flushes are recorded; `want` is what gather answers. */
function recorder(want: () => { atLeast: number; maxWaitMs: number } | undefined) {
  const flushes: number[][] = [];
  const group = new GroupCommit<number, number>(
    async (items) => {
      flushes.push(items);
      return items.map((i) => i * 10);
    },
    64,
    want === undefined ? undefined : () => want() ?? { atLeast: 0, maxWaitMs: 0 },
  );
  return { group, flushes };
}

describe("GroupCommit", () => {
  it("flushes the first item at once without gather, and what arrived meanwhile together", async () => {
    const { group, flushes } = recorder(() => undefined);
    const results = await Promise.all([1, 2, 3].map((i) => group.add(i)));
    assert.deepEqual(results, [10, 20, 30]);
    assert.deepEqual(flushes, [[1], [2, 3]]);
  });

  it("with gather, waits for the items a bulk caller says are coming and flushes them in one batch", async () => {
    const { group, flushes } = recorder(() => ({ atLeast: 4, maxWaitMs: 60_000 }));
    const done: Promise<number>[] = [];
    for (let i = 1; i <= 4; i++) {
      done.push(group.add(i));
      // Each item arrives on a later turn of the event loop, as signed certificates do.
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(done), [10, 20, 30, 40]);
    assert.deepEqual(flushes, [[1, 2, 3, 4]]);
  });

  it("recheck releases a waiting flush when fewer items are now to come", async () => {
    let atLeast = 3;
    const { group, flushes } = recorder(() => ({ atLeast, maxWaitMs: 60_000 }));
    const first = group.add(1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(flushes, [], "the flush waits for more");
    atLeast = 1;
    group.recheck();
    assert.equal(await first, 10);
    assert.deepEqual(flushes, [[1]]);
  });

  it("flushes what it has once the wait is over", async () => {
    const { group, flushes } = recorder(() => ({ atLeast: 10, maxWaitMs: 1 }));
    assert.deepEqual(await Promise.all([group.add(1), group.add(2)]), [10, 20]);
    assert.deepEqual(flushes, [[1, 2]]);
  });
});
