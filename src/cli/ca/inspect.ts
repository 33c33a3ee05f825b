/** `fleetca ca print NAME...`, `fleetca ca fingerprint NAME... [--digest]`, `fleetca ca verify NAME...`. */
import type { Command } from "commander";
import { parseCertificatePem } from "../../pki/certificate.js";
import { parseCsrPem } from "../../pki/csr.js";
import { describeCertificate, describeRequest } from "../../pki/describe.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { fromPem } from "../../pki/pem.js";
import { CaError } from "../../ca/errors.js";
import { openExistingCa } from "../ca-present.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded } from "../shared.js";

/** Runs fn per name; a failure prints one line and the rest go on. */
async function perName(io: Io, names: string[], fn: (name: string) => Promise<void>): Promise<number> {
  let failed = false;
  for (const name of names) {
    try {
      await fn(name);
    } catch (e) {
      if (!(e instanceof CaError)) throw e;
      failed = true;
      io.err(`Error: ${name}: ${e.message}`);
    }
  }
  return failed ? Exit.FAILED : Exit.OK;
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("print").description("print certificates (or pending requests, when a name has no certificate) in human-readable form"))
    .argument("<names...>", "certnames ('ca' for the CA certificate)")
    .action(
      guarded(io, setCode, async (...args) => {
        const [names, opts] = args as [string[], CommonFlags];
        const { ca: authority } = await openExistingCa(settingsFrom(opts, io));
        return perName(io, names, async (name) => {
          let lines: string[];
          try {
            lines = describeCertificate(parseCertificatePem(await authority.getCertificatePem(name)));
          } catch (e) {
            if (!(e instanceof CaError) || e.kind !== "not-found") throw e;
            const pem = await authority.getRequestPem(name).catch(() => {
              throw new CaError("not-found", `Could not find a certificate or request for ${name}; \`fleetca ca list --all\` shows the names this CA has`);
            });
            lines = describeRequest(parseCsrPem(pem));
          }
          for (const l of lines) io.out(l);
        });
      }),
    );
  caOptions(ca.command("fingerprint").description("print the fingerprint of certificates, or of requests when no certificate exists"))
    .argument("<names...>", "certnames ('ca' for the CA certificate)")
    .option("--digest <alg>", "digest: sha256 (default), sha1, sha384, sha512", "sha256")
    .action(
      guarded(io, setCode, async (...args) => {
        const [names, opts] = args as [string[], CommonFlags & { digest: string }];
        const { ca: authority } = await openExistingCa(settingsFrom({ config: opts.config, cadir: opts.cadir, store: opts.store }, io));
        fingerprint(Buffer.alloc(0), opts.digest); // refuse an unknown digest before any output
        return perName(io, names, async (name) => {
          let der: Buffer;
          try {
            der = fromPem(await authority.getCertificatePem(name), ["CERTIFICATE"], "certificate");
          } catch (e) {
            if (!(e instanceof CaError) || e.kind !== "not-found") throw e;
            der = fromPem(await authority.getRequestPem(name).catch(() => { throw new CaError("not-found", `Could not find a certificate or request for ${name}`); }), ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"], "request");
          }
          io.out(`${name} (${opts.digest.toUpperCase()}) ${fingerprint(der, opts.digest)}`);
        });
      }),
    );
  caOptions(ca.command("verify").description("check certificates against the CA and its CRL"))
    .argument("<names...>", "certnames")
    .action(
      guarded(io, setCode, async (...args) => {
        const [names, opts] = args as [string[], CommonFlags];
        const { ca: authority } = await openExistingCa(settingsFrom(opts, io));
        return perName(io, names, async (name) => {
          const r = await authority.verifyCertificate(name);
          if (!r.ok) throw new CaError("conflict", `certificate does not verify: ${r.problems.join("; ")}`);
          io.out(`Verified certificate ${name}: signed by this CA, within its validity, not revoked`);
        });
      }),
    );
}
