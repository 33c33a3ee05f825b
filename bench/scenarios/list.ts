/**
 * Scenario 2b: `fleetca ca list --all` over a CA holding N entries (signed, revoked, pending).
 *
 * How the N entries are made quickly: the certificates are issued by fleetca's own
 * building blocks (P-256 CA, so signing is nearly free) and written straight into the
 * Puppet layout (signed/NAME.pem, inventory.txt, serial) without fsync, as another Puppet
 * tool or a migrated Puppet Server CA would leave them; 1% are then revoked through the CA
 * (one CRL signature) and 1% are left as pending requests. The first `list` therefore
 * rebuilds fleetca's index from the PEM files (a one-off, reported separately); the
 * figure with a target is the median of the following runs, which read the index.
 * Agent keys are reused (1,000 of them, round robin): listing does not care, and
 * generating 100,000 keys would only slow the set-up.
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentIdentities, agentName } from "../lib/agents.js";
import { BENCH_ACTOR, fleetcaCli, freshCa, inProcessCa, median } from "../lib/fleetca.js";
import { fmt, machine, type ScenarioResult } from "../lib/results.js";
import { certToPem, issueCertificate } from "../../src/pki/certificate.js";
import { cnName } from "../../src/pki/name.js";
import { leafExtensions } from "../../src/pki/profile.js";
import { formatInventoryLine, formatSerialHex } from "../../src/store/file/formats.js";

export interface ListOptions {
  entries: number;
  command: string;
  runs?: number;
}

const DAY_MS = 86_400_000;

async function populate(cadir: string, entries: number): Promise<{ signed: number; revoked: number; pending: number; ms: number }> {
  const t0 = performance.now();
  const ca = inProcessCa(cadir);
  const material = await ca.current();
  const keys = await agentIdentities(Math.min(1000, entries), "ec", "listkey");
  const pending = Math.floor(entries / 100);
  const signed = entries - pending;
  const now = Date.now();
  let inventory = "";
  // Revoked first, while the directories are empty: revoking looks names up in the index, and
  // doing it after the files appeared would build the index here, before the "first list" it measures.
  const serials: bigint[] = [];
  for (let i = 50; i < signed; i += 100) serials.push(BigInt(i + 2));
  await ca.revokeSerials(serials, BENCH_ACTOR);
  mkdirSync(join(cadir, "signed"), { recursive: true });
  for (let i = 0; i < signed; i++) {
    const name = agentName("list", i);
    const spki = Buffer.from(keys[i % keys.length]!.spki, "base64");
    const serial = BigInt(i + 2);
    const notBefore = new Date(now - DAY_MS);
    const notAfter = new Date(now + 5 * 365 * DAY_MS);
    const der = await issueCertificate(
      {
        serial, issuer: material.cert.subjectDer, subject: cnName(name), notBefore, notAfter, spki,
        extensions: leafExtensions({ commonName: name, spki, altNames: [], copied: [], caSpki: material.cert.spki, caIssuerDer: material.cert.issuerDer, caSerial: material.cert.serial }),
      },
      material.key!,
    );
    writeFileSync(join(cadir, "signed", `${name}.pem`), certToPem(der));
    inventory += `${formatInventoryLine({ serial, notBefore, notAfter, subject: `/CN=${name}` })}\n`;
    if (inventory.length > 1 << 20) {
      appendFileSync(join(cadir, "inventory.txt"), inventory);
      inventory = "";
    }
  }
  appendFileSync(join(cadir, "inventory.txt"), inventory);
  writeFileSync(join(cadir, "serial"), formatSerialHex(BigInt(signed + 2)));
  const requests = await agentIdentities(pending, "ec", "listreq");
  for (const r of requests) writeFileSync(join(cadir, "requests", `${r.name}.pem`), r.csrPem);
  return { signed, revoked: serials.length, pending, ms: performance.now() - t0 };
}

export async function listScenario(o: ListOptions): Promise<ScenarioResult> {
  const cadir = await freshCa("list", "ec-p256");
  const made = await populate(cadir, o.entries);
  const args = ["ca", "list", "--all", "--cadir", cadir];
  const first = await fleetcaCli(args);
  if (first.code !== 0) throw new Error(`fleetca ca list --all failed: ${first.stderr.slice(0, 1000)}`);
  const runs: number[] = [];
  let lines = 0;
  let revokedLines = 0;
  for (let i = 0; i < (o.runs ?? 7); i++) {
    const r = await fleetcaCli(args);
    if (r.code !== 0) throw new Error(`fleetca ca list --all failed: ${r.stderr.slice(0, 1000)}`);
    runs.push(r.ms);
    const out = r.stdout.trimEnd().split("\n");
    lines = out.length;
    revokedLines = out.filter((l) => l.startsWith("- ")).length;
  }
  const med = median(runs);
  const complete = lines === o.entries && revokedLines === made.revoked;
  return {
    scenario: "list",
    title: `\`fleetca ca list --all\` over ${o.entries.toLocaleString("en-US")} entries`,
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows: [
      {
        measurement: `list --all of ${o.entries.toLocaleString("en-US")} (CLI process, median of ${runs.length}; fastest)`,
        fleetca: `${fmt.ms(med)}; ${fmt.ms(Math.min(...runs))}`,
        compare: "Puppet Server (reference): 3.2 s for ~4,000",
        target: "< 1 s",
        met: med < 1000 && complete,
      },
      { measurement: "lines printed (signed + revoked + pending)", fleetca: `${lines.toLocaleString("en-US")} (${revokedLines} revoked)`, met: complete },
      { measurement: "first list after the files appeared (rebuilds the index from every PEM, once)", fleetca: fmt.ms(first.ms), met: null },
    ],
    limits:
      "`list` reads fleetca_index.jsonl (one tab-separated line per entry, its fields decoded when printed) instead of 100,000 PEM files, checks the two " +
      "directories' mtimes and the inventory size to know nothing changed behind its back, sorts by name and prints. " +
      "The time is Node's start-up, parsing the index, and formatting ~10 MB of output; the CRL (1,000 serials here) " +
      "is read to mark revoked entries.",
    data: { populate: { ...made, ms: Math.round(made.ms) }, firstMs: Math.round(first.ms), runsMs: runs.map(Math.round), lines, revokedLines },
  };
}
