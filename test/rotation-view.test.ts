import assert from "node:assert/strict";
import { test } from "node:test";
import { regenerationView } from "../src/ca/lifecycle/rotation.js";
import type { CaStore, RegenerationState, TrackedNode } from "../src/ca/store.js";

/** A store whose tracking record can appear between two reads, counting the reads. */
function trackingStore(): { store: CaStore; start(names: string[]): void; reads(): number } {
  let tracking: { state: RegenerationState; nodes: TrackedNode[] } | undefined;
  let reads = 0;
  const store = {
    readTracking: () => {
      reads++;
      return Promise.resolve(tracking);
    },
  } as unknown as CaStore;
  const state: RegenerationState = { mode: "compromise", startedAt: new Date(), oldCaFingerprint: "old", newCaFingerprint: "new", firstNewSerial: 10n };
  return { store, start: (names) => void (tracking = { state, nodes: names.map((name) => ({ name })) }), reads: () => reads };
}

test("a regeneration that lands within a second of the last read is seen by the first caller serving the new CA", async () => {
  const t = trackingStore();
  const oldCa = Buffer.from("old CA");
  const newCa = Buffer.from("new CA");
  const now = new Date();
  assert.equal(await regenerationView(t.store, now, oldCa), undefined, "nothing tracked before the regeneration");
  t.start(["agent00.example.com"]);
  assert.equal(await regenerationView(t.store, new Date(now.getTime() + 100), oldCa), undefined, "the same CA within a second: the cached copy");
  assert.equal(t.reads(), 1);
  const view = await regenerationView(t.store, new Date(now.getTime() + 200), newCa);
  assert.ok(view?.names.has("agent00.example.com"), "the new CA's first caller reads the tracking record again");
  assert.equal(t.reads(), 2);
});
