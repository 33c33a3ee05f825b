/**
 * `fleetca ca update-crls FILE`: PUT certificate_revocation_list without a server. Takes the newer
 * CRLs of the CAs above an intermediate CA from a PEM bundle (`-` reads stdin) and signs this CA's
 * CRL again in front of them, by the same rules (src/ca/crl-chain.ts, docs/server.md).
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("update-crls").description("take newer CRLs of the outer CAs of an intermediate CA from a PEM bundle (`-`: stdin)"))
    .argument("<file>", "PEM file of CRLs, as PUT /puppet-ca/v1/certificate_revocation_list takes them")
    .action(
      guarded(io, setCode, async (...args) => {
        const file = args[0] as string;
        const opts = args[1] as CommonFlags;
        const upload = fs.readFileSync(file === "-" ? 0 : path.resolve(io.cwd, file), "utf8");
        const { ca: authority, by } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const plan = await authority.updateCrls(upload, by);
        for (const c of plan.notNewer) io.err(`Kept the CRL of ${c.issuer}: the uploaded one (number ${c.to}) is not newer than the stored one (${c.from}).`);
        for (const i of plan.ignored) io.err(`Ignored a CRL of ${i}.`);
        for (const c of plan.changed) io.out(`Updated the CRL of ${c.issuer}: ${c.from === undefined ? "added" : `number ${c.from} ->`} ${c.to}.`);
        if (plan.changed.length > 0) io.out(`Signed this CA's CRL again in front of them: number ${(await authority.current(true)).crl.crlNumber}.`);
        io.out("Successfully updated CRLs.");
        return Exit.OK;
      }),
    );
}
