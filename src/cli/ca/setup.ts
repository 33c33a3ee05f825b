/** `fleetca ca setup` and `fleetca ca import`: create a CA, or take over an existing one. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { importCa, setupCa } from "../../ca/setup.js";
import { parseCertificatePem } from "../../pki/certificate.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { parseInventory } from "../../store/file/formats.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { keySpecOf } from "../../config/index.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

function readInput(io: Io, file: string, what: string): string {
  try {
    return fs.readFileSync(path.resolve(io.cwd, file), "utf8");
  } catch (e) {
    throw Object.assign(new Error(`cannot read the ${what} ${file}: ${(e as Error).message}`), { code: "ENOENT" });
  }
}

/**
 * Serials an existing Puppet CA issued, read from the directory its certificate bundle sits
 * in (inventory.txt and signed/*.pem), and its serial file there; undefined when that
 * directory holds none of them.
 */
function issuedSerialsBeside(io: Io, bundle: string): { serials: bigint[]; serialFile?: string; sources: string[] } | undefined {
  const dir = path.dirname(path.resolve(io.cwd, bundle));
  const serials: bigint[] = [];
  const sources: string[] = [];
  const inventory = path.join(dir, "inventory.txt");
  if (fs.existsSync(inventory)) {
    for (const e of parseInventory(fs.readFileSync(inventory, "utf8"))) serials.push(e.serial);
    sources.push(inventory);
  }
  const signed = path.join(dir, "signed");
  if (fs.existsSync(signed) && fs.statSync(signed).isDirectory()) {
    const files = fs.readdirSync(signed).filter((f) => f.endsWith(".pem"));
    files.forEach((f, n) => {
      if (n % 1000 === 0) io.progress(`reading signed certificates ${n}/${files.length}`);
      try {
        serials.push(parseCertificatePem(fs.readFileSync(path.join(signed, f), "utf8")).serial);
      } catch {
        // A damaged file there is Puppet's problem, not a serial we could reuse.
      }
    });
    io.progress("");
    sources.push(signed);
  }
  const serialFile = path.join(dir, "serial");
  const hasSerial = fs.existsSync(serialFile);
  if (sources.length === 0 && !hasSerial) return undefined;
  return { serials, sources, ...(hasSerial ? { serialFile } : {}) };
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("setup").description("create a new CA in the Puppet Server layout"))
    .option("--ca-name <name>", "CA common name (default \"Puppet CA: <certname>\")")
    .option("--certname <name>", "this host's certname (used in the default CA name)")
    .option("--key-type <type>", "rsa (default) or ec")
    .option("--keylength <bits>", "RSA key size (default 4096)")
    .option("--curve <name>", "EC curve: P-256 (default) or P-384")
    .option("--ca-ttl <duration>", "CA certificate lifetime (default 5y)")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags;
        const settings = settingsFrom(opts, io);
        const { store, by } = await openCa(settings);
        const key = keySpecOf(settings);
        io.progress(`generating the CA key (${key.type === "rsa" ? `RSA ${key.bits}` : `EC ${key.curve}`})…`);
        const { certPem } = await setupCa(store, { caName: settings.caName, key, caTtl: settings.caTtl, crlTtl: settings.crlTtl, now: new Date(), by });
        io.progress("");
        const cert = parseCertificatePem(certPem);
        io.out(`Created CA "${cert.commonName}" in ${store.location}`);
        io.out(`CA fingerprint (SHA256): ${fingerprint(cert.der)}`);
        io.out(`Valid until ${cert.notAfter.toISOString()}`);
        return Exit.OK;
      }),
    );
  caOptions(ca.command("import").description("import an external CA (intermediate or an existing Puppet CA) and keep issuing from it"))
    .requiredOption("--cert-bundle <file>", "PEM: the CA certificate first, then its issuers up to the root")
    .requiredOption("--private-key <file>", "PEM private key of the CA certificate")
    .requiredOption("--crl-chain <file>", "PEM: the CA's CRL first, then its issuers' CRLs")
    .option("--serial-file <file>", "the old CA's `serial` file, so serials continue after it (found beside the bundle when it sits in a Puppet CA directory)")
    .option("--next-serial <hex>", "the first serial to issue, in hexadecimal, when the old CA's serial file is not at hand")
    .action(
      guarded(io, setCode, async (...args) => {
        const opts = args[0] as CommonFlags & { certBundle: string; privateKey: string; crlChain: string; serialFile?: string; nextSerial?: string };
        const settings = settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io);
        const { store, by } = await openCa(settings);
        if (opts.nextSerial !== undefined && !/^(0x)?[0-9A-Fa-f]{1,40}$/.test(opts.nextSerial)) {
          io.err(`Error: --next-serial should be a hexadecimal number (e.g. 25E), not "${opts.nextSerial.slice(0, 40)}"`);
          return Exit.USAGE;
        }
        const beside = issuedSerialsBeside(io, opts.certBundle);
        const serialFile = opts.serialFile ?? beside?.serialFile;
        const serialText = serialFile ? readInput(io, serialFile, "serial file").trim() : undefined;
        if (serialText !== undefined && !/^[0-9A-Fa-f]+$/.test(serialText)) {
          io.err(`Error: the serial file ${serialFile} should hold a hexadecimal number, found "${serialText.slice(0, 40)}"`);
          return Exit.USAGE;
        }
        const nextSerials = [serialText, opts.nextSerial?.replace(/^0x/, "")].filter((t): t is string => t !== undefined && t !== "").map((t) => BigInt(`0x${t}`));
        const { firstSerial } = await importCa(store, {
          certBundlePem: readInput(io, opts.certBundle, "certificate bundle"),
          privateKeyPem: readInput(io, opts.privateKey, "private key"),
          crlChainPem: readInput(io, opts.crlChain, "CRL chain"),
          now: new Date(),
          nextSerial: nextSerials.length > 0 ? nextSerials.reduce((a, b) => (b > a ? b : a)) : undefined,
          issuedSerials: beside && beside.sources.length > 0 ? beside.serials : undefined,
          by,
        });
        const cert = parseCertificatePem(readInput(io, opts.certBundle, "certificate bundle"));
        io.out(`Imported CA "${cert.commonName}" into ${store.location}; the next serial is ${firstSerial.toString(16).toUpperCase()}`);
        return Exit.OK;
      }),
    );
}
