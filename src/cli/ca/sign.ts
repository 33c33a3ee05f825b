/** `fleetca ca sign NAME... | --all [--allow-dns-alt-names] [--ttl DUR]`. */
import type { Command } from "commander";
import { letNewRequestIn } from "../../ca/superseded.js";
import { parseDuration } from "../../config/index.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded, reportResults } from "../shared.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("sign").description("sign pending certificate requests"))
    .argument("[names...]", "certnames to sign")
    .option("-a, --all", "sign every pending request")
    .option("--allow-dns-alt-names", "sign requests that carry subject alternative names")
    .option("--ttl <duration>", "validity of these certificates (e.g. 90d, 1y); default ca_ttl")
    .action(
      guarded(io, setCode, async (...args) => {
        const names = args[0] as string[];
        const opts = args[1] as CommonFlags & { all?: boolean; allowDnsAltNames?: boolean; ttl?: string };
        if (names.length === 0 && !opts.all) {
          io.err("Error: name the requests to sign, or pass --all. See `fleetca ca list` for pending requests.");
          return Exit.USAGE;
        }
        if (names.length > 0 && opts.all) {
          io.err("Error: pass either names or --all, not both.");
          return Exit.USAGE;
        }
        const { ca: authority, by } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        // A request superseded by a refused newer one (the node lost this key): signing it hands the node a
        // certificate it cannot use. Said before signing; the operator may mean it (the key was found again).
        for (const [name, s] of await authority.supersededRequests(opts.all ? undefined : names)) {
          io.err(
            `Warning: the pending request for ${name} (SHA256 ${s.pending}) was superseded: the node sent a new request with another key ` +
              `(SHA256 ${s.refused}) at ${s.time}, refused because this one was pending. Its certificate is for a key the node no longer has. ` +
              `To let the node's new request in instead: ${letNewRequestIn(name)} (the node then submits it again).`,
          );
        }
        const signOpts = { by, allowDnsAltNames: opts.allowDnsAltNames, ttlSeconds: opts.ttl ? parseDuration(opts.ttl) : undefined };
        // At most every 100 ms (and the last): a terminal took a write per certificate.
        let shown = 0;
        const progress = (done: number, total: number) => {
          const now = Date.now();
          if (done !== total && now - shown < 100) return;
          shown = now;
          io.progress(`signed ${done}/${total}`);
        };
        const results = opts.all ? await authority.signAll(signOpts, progress) : await authority.signMany(names, signOpts, progress);
        io.progress("");
        if (opts.all && results.length === 0) {
          io.err("No certificate requests are pending.");
          return Exit.OK;
        }
        return reportResults(io, results, (n) => `Successfully signed certificate request for ${n}`);
      }),
    );
}
