/**
 * Helper process for test/store-file.test.ts (not a test itself): plays "another fleetca
 * process" on the same cadir.
 *   node --import tsx test/store-file-child.ts <cadir> alloc <count> <prefix>
 *     allocates <count> serials, one withLock each, and signs "<prefix>-<serial>" with it;
 *     prints the serials as a JSON array.
 *   node --import tsx test/store-file-child.ts <cadir> list
 *     prints {"entries":[[name,state,serialHex?]...],"summarized":n} from a fresh index.
 *   node --import tsx test/store-file-child.ts <cadir> dump
 *     prints {"entries":[every field of every entry],"summarized":n} from a fresh index.
 */
import { createHash } from "node:crypto";
import type { IndexEntry, Summarize } from "../src/ca/store.js";
import { FileStore } from "../src/store/file/index.js";

export const fakeSummarize =
  (counter: { n: number }): Summarize =>
  (name, kind, pem) => {
    counter.n++;
    if (!pem.includes("-----BEGIN")) throw new Error("not a PEM");
    const sha256 = createHash("sha256").update(pem).digest("hex").toUpperCase().match(/../g)!.join(":");
    const entry: IndexEntry = { name, state: kind === "request" ? "requested" : "signed", sha256, altNames: [`DNS:${name}`], authExtensions: {} };
    if (kind === "certificate") {
      entry.serial = 1n;
      entry.notBefore = new Date("2026-01-01T00:00:00Z");
      entry.notAfter = new Date("2031-01-01T00:00:00Z");
    }
    return entry;
  };

/** Every field of an entry, as JSON can carry them (serial in hex, dates in ISO form). */
export function dumpEntry(e: IndexEntry): unknown[] {
  return [e.name, e.state, e.sha256, [...e.altNames], { ...e.authExtensions }, e.serial?.toString(16) ?? null, e.notBefore?.toISOString() ?? null, e.notAfter?.toISOString() ?? null];
}

async function main(): Promise<void> {
  const [cadir, cmd, ...rest] = process.argv.slice(2);
  if (!cadir) throw new Error("usage: store-file-child.ts <cadir> alloc|list ...");
  const store = new FileStore(cadir);
  if (cmd === "alloc") {
    const count = Number(rest[0]);
    const prefix = rest[1] ?? "child";
    const serials: string[] = [];
    for (let i = 0; i < count; i++) {
      await store.withLock(async () => {
        const serial = await store.allocateSerial();
        const name = `${prefix}-${serial.toString(16)}`;
        const notBefore = new Date("2026-11-22T03:17:34Z");
        const notAfter = new Date("2031-11-22T03:17:34Z");
        const pem = `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`;
        await store.putCertificate(
          name,
          pem,
          { serial, notBefore, notAfter, subject: `/CN=${name}` },
          { name, state: "signed", sha256: "AA", altNames: [`DNS:${name}`], authExtensions: {}, serial, notBefore, notAfter },
        );
        serials.push(serial.toString(16));
      });
    }
    process.stdout.write(JSON.stringify(serials));
  } else if (cmd === "list") {
    const counter = { n: 0 };
    const entries = await store.listIndex(fakeSummarize(counter));
    process.stdout.write(
      JSON.stringify({ entries: entries.map((e) => [e.name, e.state, e.serial?.toString(16)]), summarized: counter.n }),
    );
  } else if (cmd === "dump") {
    const counter = { n: 0 };
    const entries = (await store.listIndex(fakeSummarize(counter))).map(dumpEntry);
    process.stdout.write(JSON.stringify({ entries, summarized: counter.n }));
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
  await store.close();
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() ?? "")) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
