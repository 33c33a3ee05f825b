/**
 * `fleetca ca check [--repair] [--format json]`: is the CA consistent (src/ca/check.ts)? Exits 0
 * when it is (after --repair: when nothing is left), 1 saying what is wrong otherwise. The JSON
 * form is one object on stdout; the text form one line per problem.
 */
import type { Command } from "commander";
import type { CheckReport } from "../../ca/check.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { openExistingCa } from "../ca-present.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("check").description("check the CA's consistency (serial, inventory, signatures, CRL, requests, leftovers); --repair fixes what is safe to fix"))
    .option("--repair", "fix what can be fixed safely, then check again")
    .option("--format <format>", "text or json", "text")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { repair?: boolean; format: string };
        if (opts.format !== "text" && opts.format !== "json") {
          io.err(`Error: --format must be text or json, not "${opts.format}"`);
          return Exit.USAGE;
        }
        const { ca: authority, by, store } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io), { recover: false });
        try {
          const report = await authority.check({ repair: opts.repair === true, by });
          if (opts.format === "json") io.out(JSON.stringify(report));
          else printText(io, report, store.location);
          return report.ok ? Exit.OK : Exit.FAILED;
        } finally {
          await store.close();
        }
      }),
    );
}

function printText(io: Io, r: CheckReport, location: string): void {
  const c = r.counts;
  for (const res of r.results) {
    for (const p of res.problems) io.err(`${res.check}: ${p}`);
    for (const p of res.repaired) io.out(`${res.check}: repaired: ${p}`);
    if (res.repaired.length > 0) for (const p of res.remaining) io.err(`${res.check}: still wrong: ${p}`);
  }
  const summary = `${c.certificates} certificates, ${c.requests} requests, ${c.inventory} inventory lines, ${c.revocations} revocations`;
  if (r.ok) io.out(`CA in ${location} is consistent (${summary}).`);
  else io.err(`CA in ${location} is NOT consistent (${summary}). ${r.results.some((x) => x.repaired.length > 0) ? "What is left needs a person." : "Run `fleetca ca check --repair` to fix what can be fixed safely."}`);
}
