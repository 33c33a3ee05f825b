/**
 * Re-enrollment tracking after a regeneration: who of the old CA's nodes has not come back
 * yet. A node leaves the list once it holds a certificate of the new CA (compromise: any
 * certificate, the old ones were removed; rotate: one with a serial of the new CA), or when
 * an operator dismisses it.
 */
import { auditRecord } from "../audit.js";
import { CaError } from "../errors.js";
import type { Principal } from "../principal.js";
import type { CaStore, RegenerationState } from "../store.js";
import { summarize } from "../summarize.js";

export interface RegenerationStatus {
  active: boolean;
  mode: RegenerationState["mode"] | null;
  startedAt: string | null;
  oldCaFingerprint: string | null;
  newCaFingerprint: string | null;
  overlapUntil: string | null;
  total: number;
  reenrolled: number;
  dismissed: number;
  remaining: number;
  /** The nodes still to re-enroll, by name. */
  nodes: { name: string; lastSeenAt: string | null; lastSeenAddress: string | null }[];
}

const INACTIVE: RegenerationStatus = {
  active: false, mode: null, startedAt: null, oldCaFingerprint: null, newCaFingerprint: null, overlapUntil: null,
  total: 0, reenrolled: 0, dismissed: 0, remaining: 0, nodes: [],
};

export async function regenerationStatus(store: CaStore): Promise<RegenerationStatus> {
  const t = await store.readTracking();
  if (!t) return INACTIVE;
  const held = new Map<string, bigint | undefined>();
  for (const e of await store.listIndex(summarize)) if (e.state === "signed") held.set(e.name, e.serial);
  const back = (name: string) => {
    if (!held.has(name)) return false;
    if (t.state.mode === "compromise") return true;
    const serial = held.get(name);
    return serial !== undefined && serial >= t.state.firstNewSerial;
  };
  let reenrolled = 0;
  let dismissed = 0;
  const nodes: RegenerationStatus["nodes"] = [];
  for (const n of t.nodes) {
    if (back(n.name)) reenrolled++;
    else if (n.dismissedAt) dismissed++;
    else nodes.push({ name: n.name, lastSeenAt: n.lastSeenAt?.toISOString() ?? null, lastSeenAddress: n.lastSeenAddress ?? null });
  }
  nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    active: true,
    mode: t.state.mode,
    startedAt: t.state.startedAt.toISOString(),
    oldCaFingerprint: t.state.oldCaFingerprint,
    newCaFingerprint: t.state.newCaFingerprint,
    overlapUntil: t.state.overlapUntil?.toISOString() ?? null,
    total: t.nodes.length,
    reenrolled,
    dismissed,
    remaining: nodes.length,
    nodes,
  };
}

/** Takes nodes off the list (they will never come back), with an audit record each. */
export async function dismissNodes(store: CaStore, names: string[], now: Date, by: Principal): Promise<void> {
  if (!(await store.readTracking())) throw new CaError("not-found", "No regeneration is being tracked: there is no list to dismiss nodes from.");
  for (const name of names) {
    if (!(await store.dismissNode(name, now))) throw new CaError("not-found", `${name} is not on the re-enrollment list of the last regeneration; see \`fleetca ca regenerate --status\`.`);
    await store.appendAudit([auditRecord(now, "reenroll-dismissed", by, { names: [name] })]);
  }
}

/**
 * Notes that a tracked node presented an old-CA certificate, at most once a minute per
 * node per process: an agent retrying every few seconds must not turn into a write each time.
 */
export class Sightings {
  private readonly last = new Map<string, number>();
  constructor(private readonly store: CaStore) {}

  note(name: string, at: Date, from: string): Promise<void> {
    const prev = this.last.get(name);
    if (prev !== undefined && at.getTime() - prev < 60_000) return Promise.resolve();
    this.last.set(name, at.getTime());
    if (this.last.size > 100_000) this.last.clear();
    return this.store.markSeen(name, at, from);
  }
}
