/**
 * Measurement, not a test: how long FileStore.listIndex takes over 100,000 certificates.
 *   node --import tsx test/store-file-measure.ts [count]
 * Prints one line per scenario. Files are written directly (as another Puppet tool
 * would), so the first listing also measures the one-off rebuild of the index.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FileStore } from "../src/store/file/index.js";
import { fakeSummarize } from "./store-file-child.js";

const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;

async function timeList(store: FileStore, label: string): Promise<void> {
  const counter = { n: 0 };
  const t0 = performance.now();
  const list = await store.listIndex(fakeSummarize(counter));
  const ms = performance.now() - t0;
  console.log(`${label.padEnd(58)} ${ms.toFixed(0).padStart(6)} ms  (${list.length} entries, ${counter.n} PEMs summarised)`);
}

async function main(): Promise<void> {
  if (process.argv[2] === "--fresh") {
    await timeList(new FileStore(process.argv[3] as string), "fresh process (journal load + checks)");
    return;
  }
  const count = Number(process.argv[2] ?? 100_000);
  const root = mkdtempSync(join(tmpdir(), "fleetca-measure-"));
  try {
    const cadir = join(root, "ca");
    const store = new FileStore(cadir);
    await store.initialize(
      { certPem: pem("CA"), keyPem: pem("KEY"), publicKeyPem: pem("PUB"), crlPem: pem("CRL") },
      { firstSerial: 1n },
    );
    mkdirSync(join(cadir, "signed"), { recursive: true });
    const filler = "A".repeat(1800);
    for (let i = 0; i < count; i++) writeFileSync(join(cadir, "signed", `node${i}.example.com.pem`), pem(`${i}${filler}`));
    console.log(`${count} certificates in ${cadir}`);
    await timeList(store, "first listing: rebuild from PEM files (one-off)");
    await new Promise((r) => setTimeout(r, 2100)); // let the directory mtime settle
    await timeList(store, "same process, second listing");
    await timeList(store, "same process, nothing changed");
    const self = fileURLToPath(import.meta.url);
    for (let i = 0; i < 2; i++) process.stdout.write(execFileSync(process.execPath, ["--import", "tsx", self, "--fresh", cadir]));
    const serial = 999_999n;
    const d = new Date();
    await store.putCertificate("new.example.com", pem("new"), { serial, notBefore: d, notAfter: d, subject: "/CN=new" }, {
      name: "new.example.com", state: "signed", sha256: "X", altNames: [], authExtensions: {}, serial, notBefore: d, notAfter: d,
    });
    await timeList(store, "same process, after one putCertificate (re-sort only)");
    writeFileSync(join(cadir, "signed", "dropped.example.com.pem"), pem("dropped"));
    await timeList(store, "same process, after another tool added a file (stat all)");
    await new Promise((r) => setTimeout(r, 2100));
    await timeList(store, "same process, 2 s later: one readdir to settle");
    for (let i = 0; i < 2; i++) process.stdout.write(execFileSync(process.execPath, ["--import", "tsx", self, "--fresh", cadir]));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
