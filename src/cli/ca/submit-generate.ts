/** `fleetca ca submit FILE [--name NAME]` and `fleetca ca generate NAME [--dns-alt-names a,b] [--out DIR]`. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { generateCertificate } from "../../ca/generate.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { keySpecOf } from "../../config/index.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded, splitList } from "../shared.js";

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("submit").description("add a CSR made elsewhere as a pending request (its key never leaves that system)"))
    .argument("<file>", "PEM certificate request ('-' for stdin)")
    .option("--name <certname>", "certname (default: the CSR's common name)")
    .action(
      guarded(io, setCode, async (...args) => {
        const [file, opts] = args as [string, CommonFlags & { name?: string }];
        const pem = file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(path.resolve(io.cwd, file), "utf8");
        const { ca: authority, by } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const name = opts.name ?? authority.parseRequest(pem).commonName;
        await authority.submitRequest(name, pem, by);
        io.out(`Submitted certificate request for ${name}; sign it with \`fleetca ca sign ${name}\``);
        return Exit.OK;
      }),
    );
  caOptions(ca.command("generate").description("make a key and signed certificate for a system that cannot run an agent"))
    .argument("<name>", "certname")
    .option("--dns-alt-names <names>", "comma-separated subject alternative names (DNS: implied; IP:a.b.c.d allowed)")
    .option("--out <dir>", "where to write <name>.key.pem and <name>.pem (default: current directory)")
    .option("--key-type <type>", "rsa (default) or ec")
    .action(
      guarded(io, setCode, async (...args) => {
        const [name, opts] = args as [string, CommonFlags & { dnsAltNames?: string; out?: string; keyType?: string }];
        const settings = settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store, keyType: opts.keyType }, io);
        const out = path.resolve(io.cwd, opts.out ?? ".");
        const keyFile = path.join(out, `${name}.key.pem`);
        const certFile = path.join(out, `${name}.pem`);
        const existing = [keyFile, certFile].filter((f) => fs.existsSync(f));
        if (existing.length > 0) {
          for (const f of existing) io.err(`Error: existing file at ${f}`);
          io.err(`Move these files away if you really want to generate a new key and certificate for ${name}.`);
          return Exit.FAILED;
        }
        const { ca: authority, by } = await openExistingCa(settings);
        const key = keySpecOf(settings);
        const g = await generateCertificate(authority, name, { dnsAltNames: splitList(opts.dnsAltNames), key, by });
        fs.mkdirSync(out, { recursive: true });
        fs.writeFileSync(keyFile, g.keyPem, { mode: 0o600, flag: "wx" });
        fs.writeFileSync(certFile, g.certPem, { mode: 0o644, flag: "wx" });
        io.out(`Saved private key for ${name} to ${keyFile}`);
        io.out(`Saved certificate for ${name} to ${certFile} (SHA256 ${fingerprint(g.cert.der)})`);
        return Exit.OK;
      }),
    );
}
