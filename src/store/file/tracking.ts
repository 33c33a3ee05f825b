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

interface Head {
  mode: RegenerationState["mode"];
  startedAt: string;
  oldCaFingerprint: string;
  newCaFingerprint: string;
  firstNewSerial: string;
  overlapUntil?: string;
  oldCaCertPem?: string;
  names: string[];
}

type Event = { seen: string; at: string; from: string } | { dismissed: string; at: string };

export class TrackingFile {
  constructor(private readonly path: string) {}

  async start(state: RegenerationState, names: string[]): Promise<void> {
    const head: Head = {
      mode: state.mode,
      startedAt: state.startedAt.toISOString(),
      oldCaFingerprint: state.oldCaFingerprint,
      newCaFingerprint: state.newCaFingerprint,
      firstNewSerial: state.firstNewSerial.toString(16),
      ...(state.overlapUntil ? { overlapUntil: state.overlapUntil.toISOString() } : {}),
      ...(state.oldCaCertPem ? { oldCaCertPem: state.oldCaCertPem } : {}),
      names,
    };
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
    for (const line of lines.slice(1)) {
      if (!line) continue;
      let ev: Event;
      try {
        ev = JSON.parse(line) as Event;
      } catch {
        continue; // a line torn by a crash
      }
      if ("seen" in ev) {
        const n = nodes.get(ev.seen);
        if (n) Object.assign(n, { lastSeenAt: new Date(ev.at), lastSeenAddress: ev.from });
      } else {
        const n = nodes.get(ev.dismissed);
        if (n) n.dismissedAt = new Date(ev.at);
      }
    }
    const state: RegenerationState = {
      mode: head.mode,
      startedAt: new Date(head.startedAt),
      oldCaFingerprint: head.oldCaFingerprint,
      newCaFingerprint: head.newCaFingerprint,
      firstNewSerial: BigInt(`0x${head.firstNewSerial}`),
      ...(head.overlapUntil ? { overlapUntil: new Date(head.overlapUntil) } : {}),
      ...(head.oldCaCertPem ? { oldCaCertPem: head.oldCaCertPem } : {}),
    };
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

  async stop(): Promise<void> {
    await unlinkDurable(this.path);
  }

  private async append(ev: Event): Promise<void> {
    if (!existsSync(this.path)) return; // nothing tracked: nothing to note
    await appendLog(this.path, `${JSON.stringify(ev)}\n`, MODES.records);
  }
}
