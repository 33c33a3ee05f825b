/** `fleetca ca submit FILE [--name NAME]` and `fleetca ca generate NAME [--dns-alt-names a,b] [--out DIR]`. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { generateCertificate } from "../../ca/generate.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { keySpecOf, parseDuration } from "../../config/index.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded, splitList } from "../shared.js";

/** Writes through a temporary file and a rename, so a reader never sees half a CA certificate or CRL. */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(tmp, text, { mode: 0o644 });
  await fs.promises.rename(tmp, file);
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("submit").description("add a CSR made elsewhere as a pending request (its key never leaves that system)"))
    .argument("<file>", "PEM certificate request ('-' for stdin)")
    .option("--name <certname>", "certname (default: the CSR's common name)")
    .action(
      guarded(io, setCode, async (...args) => {
        const [file, opts] = args as [string, CommonFlags & { name?: string }];
        const pem = file === "-" ? fs.readFileSync(0, "utf8") : fs.readFileSync(path.resolve(io.cwd, file), "utf8");
        const { ca: authority, by, settings } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        const parsed = authority.parseRequest(pem);
        const name = opts.name ?? parsed.commonName;
        await authority.submitRequest(name, pem, by);
        // A request with alt names other than its own DNS name is refused by a plain sign unless allow_subject_alt_names is on.
        const extraNames = parsed.altNames.filter((n) => n !== `DNS:${name}`);
        const flag = extraNames.length > 0 && !settings.allowSubjectAltNames ? " --allow-dns-alt-names" : "";
        io.out(`Submitted certificate request for ${name}${extraNames.length > 0 ? ` (alt names: ${extraNames.join(", ")})` : ""}; sign it with \`fleetca ca sign${flag} ${name}\``);
        return Exit.OK;
      }),
    );
  caOptions(ca.command("generate").description("make a key and signed certificate for a system that cannot run an agent"))
    .argument("<name>", "certname")
    .option("--dns-alt-names <names>", "comma-separated subject alternative names (DNS: implied; IP:a.b.c.d allowed)")
    .option("--out <dir>", "where to write <name>.key.pem and <name>.pem (default: current directory)")
    .option("--key-type <type>", "rsa (default) or ec")
    .option("--ttl <duration>", "validity of the certificate (e.g. 90d, 1y); default ca_ttl")
    .action(
      guarded(io, setCode, async (...args) => {
        const [name, opts] = args as [string, CommonFlags & { dnsAltNames?: string; out?: string; keyType?: string; ttl?: string }];
        const ttlSeconds = opts.ttl === undefined ? undefined : parseDuration(opts.ttl);
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
        const g = await generateCertificate(authority, name, { dnsAltNames: splitList(opts.dnsAltNames), key, by, ttlSeconds });
        fs.mkdirSync(out, { recursive: true });
        fs.writeFileSync(keyFile, g.keyPem, { mode: 0o600, flag: "wx" });
        fs.writeFileSync(certFile, g.certPem, { mode: 0o644, flag: "wx" });
        io.out(`Saved private key for ${name} to ${keyFile}`);
        io.out(`Saved certificate for ${name} to ${certFile} (SHA256 ${fingerprint(g.cert.der)})`);
        // What the system needs to trust its peers and check revocation, as an agent's ssldir holds them (certs/ca.pem,
        // crl.pem). Replaced when present: it is this CA's, and the newer CRL is the one to use.
        const caFile = path.join(out, "ca.pem");
        const crlFile = path.join(out, "crl.pem");
        await replaceFile(caFile, await authority.caCertificatePem());
        await replaceFile(crlFile, await authority.crlPem());
        io.out(`Saved the CA certificate to ${caFile} and its CRL to ${crlFile}`);
        return Exit.OK;
      }),
    );
}
