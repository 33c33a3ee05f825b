/**
 * Re-enrollment tracking in the CA directory: `fleetca_regeneration.jsonl`, written whole when
 * a regeneration starts (its first line: the regeneration and the old CA's node names), then
 * only appended to (a node seen with an old certificate, a node dismissed), so a server
 * noting sightings never rewrites a 100,000-name file. Puppet's tools ignore the file.
 */
import { existsSync, readFileSync } from "node:fs";
import type { RegenerationState, TrackedNode } from "../../ca/store.js";
import { appendLog, isErrno, unlinkDurable, writeFileAtomic } from "./atomic.js";
import { MODES } from "./layout.js";
import { regenerationFromJson, regenerationToJson, type RegenerationJson } from "../regeneration-json.js";

interface Head extends RegenerationJson {
  names: string[];
}

type Event = { seen: string; at: string; from: string } | { dismissed: string; at: string } | { overlapEnds: string };

export class TrackingFile {
  constructor(private readonly path: string) {}

  async start(state: RegenerationState, names: string[]): Promise<void> {
    const head: Head = { ...regenerationToJson(state), names };
    await writeFileAtomic(this.path, `${JSON.stringify(head)}\n`, MODES.records);
  }

  async read(): Promise<{ state: RegenerationState; nodes: TrackedNode[] } | undefined> {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (e) {
      if (isErrno(e, "ENOENT")) return undefined;
      throw e;
    }
    const lines = text.split("\n");
    const head = JSON.parse(lines[0]!) as Head;
    const nodes = new Map<string, TrackedNode>(head.names.map((name) => [name, { name }]));
    const state = regenerationFromJson(head);
    for (const line of lines.slice(1)) {
      if (!line) continue;
      let ev: Event;
      try {
        ev = JSON.parse(line) as Event;
      } catch {
        continue; // a line torn by a crash
      }
      if ("overlapEnds" in ev) {
        const end = new Date(ev.overlapEnds);
        if (state.overlapUntil && end < state.overlapUntil) state.overlapUntil = end;
      } else if ("seen" in ev) {
        const n = nodes.get(ev.seen);
        if (n) Object.assign(n, { lastSeenAt: new Date(ev.at), lastSeenAddress: ev.from });
      } else {
        const n = nodes.get(ev.dismissed);
        if (n) n.dismissedAt = new Date(ev.at);
      }
    }
    return { state, nodes: [...nodes.values()] };
  }

  async seen(name: string, at: Date, from: string): Promise<void> {
    await this.append({ seen: name, at: at.toISOString(), from });
  }

  async dismiss(name: string, at: Date): Promise<boolean> {
    const t = await this.read();
    if (!t?.nodes.some((n) => n.name === name)) return false;
    await this.append({ dismissed: name, at: at.toISOString() });
    return true;
  }

  /** Appended, as sightings are: the head (100,000 names) is never rewritten. */
  async endOverlap(at: Date): Promise<boolean> {
    const t = await this.read();
    if (!t?.state.overlapUntil) return false;
    await this.append({ overlapEnds: at.toISOString() });
    return true;
  }

  async stop(): Promise<void> {
    await unlinkDurable(this.path);
  }

  private async append(ev: Event): Promise<void> {
    if (!existsSync(this.path)) return; // nothing tracked: nothing to note
    await appendLog(this.path, `${JSON.stringify(ev)}\n`, MODES.records);
  }
}
