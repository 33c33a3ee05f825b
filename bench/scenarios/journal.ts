/**
 * The commit journal's sync per batch against the per-file syncs it replaced (issue 15):
 * the file store's durable step for a batch of B signed certificates (serials allocated,
 * then commitSigned: certificate files, inventory lines, requests removed, audit lines),
 * timed in this process for this tree's FileStore and for a baseline build's, alternated,
 * B = 1, 16 and 64. Without a baseline only this tree is timed.
 *
 *   npm run bench -- --only journal --baseline /path/to/other/build/bin/fleetca.js
 */
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { CaMaterial, SignedCommit } from "../../src/ca/store.js";
import { FileStore } from "../../src/store/file/index.js";
import { median } from "../lib/fleetca.js";
import { TMP_DIR } from "../lib/paths.js";
import { fmt, machine, type Row, type ScenarioResult } from "../lib/results.js";

export interface JournalOptions {
  command: string;
  baseline?: string;
  rounds: number;
}

type StoreLike = {
  initialize(m: CaMaterial, o: { firstSerial: bigint; caInventory?: null }): Promise<void>;
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  allocateSerials(n: number): Promise<bigint>;
  commitSigned(items: SignedCommit[]): Promise<void>;
  putRequest(name: string, pem: string, entry: unknown): Promise<void>;
  close(): Promise<void>;
};

const material: CaMaterial = {
  certPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
  keyPem: `-----BEGIN ${"PRIVATE"} KEY-----\nnot a key\n-----END ${"PRIVATE"} KEY-----\n`,
  publicKeyPem: "-----BEGIN PUBLIC KEY-----\nPUB\n-----END PUBLIC KEY-----\n",
  crlPem: "-----BEGIN X509 CRL-----\nCRL\n-----END X509 CRL-----\n",
};

const BODY = "A".repeat(1800);

/** ms per batch of `b` for the store class, over `batches` batches (requests stored first, outside the timing). */
async function timeBatches(make: (dir: string) => StoreLike, label: string, b: number, batches: number): Promise<number> {
  const dir = join(TMP_DIR, "journal", `${label}-${b}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  const store = make(dir);
  await store.initialize(material, { firstSerial: 2n, caInventory: null });
  const times: number[] = [];
  for (let k = 0; k < batches; k++) {
    const names = Array.from({ length: b }, (_, i) => `n${k}-${i}.bench.test`);
    for (const name of names) await store.putRequest(name, `-----BEGIN CERTIFICATE REQUEST-----\n${name}\n-----END CERTIFICATE REQUEST-----\n`, { name, state: "requested", sha256: "x", altNames: [], authExtensions: {} });
    const t0 = performance.now();
    await store.withLock(async () => {
      const first = await store.allocateSerials(b);
      const now = new Date();
      await store.commitSigned(
        names.map((name, i) => {
          const serial = first + BigInt(i);
          return {
            name,
            certPem: `-----BEGIN CERTIFICATE-----\n${name}${BODY}\n-----END CERTIFICATE-----\n`,
            inventory: { serial, notBefore: now, notAfter: now, subject: `/CN=${name}` },
            entry: { name, state: "signed", sha256: "y", altNames: [], authExtensions: {}, serial, notBefore: now, notAfter: now },
            audit: { time: now.toISOString(), action: "signed", who: "bench", whoKind: "local", from: "local", names: [name], serials: [serial.toString(16)], outcome: "ok" },
          } as SignedCommit;
        }),
      );
    });
    times.push(performance.now() - t0);
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return median(times);
}

export async function journalScenario(o: JournalOptions): Promise<ScenarioResult> {
  const Base = o.baseline
    ? ((await import(pathToFileURL(join(dirname(dirname(o.baseline)), "dist", "store", "file", "index.js")).href)) as { FileStore: new (d: string) => StoreLike }).FileStore
    : undefined;
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};
  for (const b of [1, 16, 64]) {
    const batches = b === 64 ? 8 : 24;
    const ours: number[] = [];
    const base: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      if (Base) base.push(await timeBatches((d) => new Base(d), "base", b, batches));
      ours.push(await timeBatches((d) => new FileStore(d) as unknown as StoreLike, "journal", b, batches));
    }
    const m = median(ours);
    const mb = Base ? median(base) : undefined;
    rows.push({
      measurement: `durable step for a batch of ${b} certificate(s) (lock, serials, commitSigned), median of ${batches} batches × ${o.rounds} alternated rounds`,
      fleetca: `${fmt.ms(m)} per batch, ${fmt.ms(m / b)} per certificate`,
      compare: mb === undefined ? "no baseline given" : `per-file syncs (baseline build): ${fmt.ms(mb)} per batch, ${fmt.ms(mb / b)} per certificate → ×${(mb / m).toFixed(2)}`,
      met: null,
    });
    data[`batch${b}`] = { ours, base };
  }
  return {
    scenario: "journal",
    title: "the commit journal's one sync per batch against per-file syncs",
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows,
    limits:
      "With the journal a batch is one append and one fdatasync of fleetca_journal.log, then Puppet's files written without a sync; before, every certificate file, the inventory, " +
      "both directories, the index journal and audit.log were each fsynced (in two rounds). The disk's flush latency, shared with everything else on this VM, is most of both figures.",
    data,
  };
}
