/**
 * `fleetca ca regenerate [--dry-run] [--infra NAME[,NAME...]] [--out DIR] [--format FMT]
 *  [--mode compromise|rotate --overlap DUR]`, `--status`, `--dismiss NAME[,NAME...]`:
 * seed 001 as one command. Only this file prints; ca/lifecycle decides.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { planRegeneration, regenerateCa, type RegenerateOptions, type RegenerationPlan } from "../../ca/lifecycle/regenerate.js";
import { activeOverlap, endOverlap } from "../../ca/lifecycle/rotation.js";
import { dismissNodes, regenerationStatus, type RegenerationStatus } from "../../ca/lifecycle/tracking.js";
import { keySpecOf, type Settings } from "../../config/index.js";
import { parseDuration } from "../../config/duration.js";
import { Ssldir } from "../../host/ssldir.js";
import { signingKey } from "../../ca/material.js";
import type { Generated } from "../../ca/generate.js";
import type { KeySpec } from "../../pki/keys.js";
import { serverAltNames } from "../../server/identity.js";
import { keepPreviousIdentity, PREVIOUS_CA_DIR } from "../../server/rotation-identity.js";
import { serverSsldir } from "../server.js";
import { Exit } from "../exit-codes.js";
import type { Io } from "../io.js";
import { openCa, settingsFrom, type CommonFlags } from "../context.js";
import { caOptions, guarded, splitList } from "../shared.js";
import { defaultArchivePath, passphraseFrom, stampNow } from "./archive-files.js";
import { describeBackup, takeBackup } from "./backup-restore.js";
import { pkcs12PassphraseFrom, writePkcs12 } from "./pkcs12-credentials.js";

const FORMATS = ["ssldir", "puppetdb", "pkcs12"] as const;
/** Without --format: the two PEM layouts (a PKCS#12 file needs a passphrase, so it is asked for by name). */
const DEFAULT_FORMATS: CredFormat[] = ["ssldir", "puppetdb"];
type CredFormat = (typeof FORMATS)[number];

interface Flags extends CommonFlags {
  dryRun?: boolean;
  infra?: string;
  out?: string;
  format?: string;
  mode?: string;
  overlap?: string;
  status?: boolean;
  dismiss?: string;
  endOverlap?: boolean;
  passphraseFile?: string;
  backupOut?: string;
  keyType?: string;
  keylength?: string;
  curve?: string;
  caTtl?: string;
  certname?: string;
  pkcs12PassphraseFile?: string;
}

/** The old CA key's kind unless flags say otherwise ("same settings as the old one"). */
function keyFor(settings: Settings, flags: Flags, old: { type: string; bits?: number; curve?: string }): KeySpec {
  if (flags.keyType || flags.keylength || flags.curve) return keySpecOf(settings);
  if (old.type === "ec" && old.curve) return { type: "ec", curve: old.curve === "prime256v1" ? "P-256" : old.curve === "secp384r1" ? "P-384" : (old.curve as "P-256") };
  if (old.type === "rsa" && old.bits) return { type: "rsa", bits: old.bits };
  return keySpecOf(settings);
}

function writeCredentials(dir: string, name: string, c: Generated, caPem: string, crlPem: string, formats: CredFormat[], p12Passphrase?: string): Promise<string[]> {
  const written: string[] = [];
  return (async () => {
    for (const f of formats) {
      if (f === "pkcs12") {
        const p = writePkcs12(dir, name, c, caPem, p12Passphrase);
        written.push(p.passphraseFile ? `${p.file} (its passphrase: ${p.passphraseFile}, 0600; move it into the service's configuration)` : p.file);
      } else if (f === "ssldir") {
        const ssl = new Ssldir(path.join(dir, name, "ssl"));
        await ssl.writeIdentity(name, c.keyPem, c.certPem);
        await ssl.writeCa(caPem, crlPem);
        written.push(ssl.dir);
      } else {
        // PuppetDB's ssl directory, as `puppetdb ssl-setup` lays it out.
        const d = path.join(dir, name, "puppetdb");
        fs.mkdirSync(d, { recursive: true, mode: 0o750 });
        fs.chmodSync(d, 0o750);
        fs.writeFileSync(path.join(d, "ca.pem"), caPem, { mode: 0o644 });
        fs.writeFileSync(path.join(d, "public.pem"), c.certPem, { mode: 0o644 });
        fs.writeFileSync(path.join(d, "private.pem"), c.keyPem, { mode: 0o600 });
        fs.chmodSync(path.join(d, "private.pem"), 0o600);
        written.push(d);
      }
    }
    return written;
  })();
}

function planLines(p: RegenerationPlan, backup: string, out: string, ssldir: string): string[] {
  return [
    `Plan (${p.mode}${p.overlapUntil ? `, old CA trusted until ${p.overlapUntil.toISOString()}` : ""}):`,
    `  1. back up the CA, the server's credentials and the audit log to ${backup}, and verify it`,
    `  2. replace the CA "${p.caName}" (${p.oldCaFingerprint}, valid until ${p.oldCaNotAfter.toISOString()}) with a new key and certificate of the same name, and an empty CRL`,
    p.mode === "compromise"
      ? `     remove the old CA's ${p.nodes.length} certificate(s) and ${p.pendingRequests} pending request(s)`
      : `     keep the old CA's ${p.nodes.length} certificate(s) valid until the overlap ends`,
    `  3. issue the server's certificate for ${p.server} into ${ssldir}`,
    p.infra.length > 0 ? `     and infrastructure credentials for ${p.infra.join(", ")} under ${out}` : "     (no --infra names: no infrastructure credentials)",
    `  4. track ${p.nodes.length} node(s) until they re-enroll (fleetca ca regenerate --status)`,
  ];
}

function nextSteps(p: RegenerationPlan, out: string, formats: CredFormat[], server: { host: string; port: number }): string[] {
  const l: string[] = ["", "What to do now, in the order of the procedure (seed 001 steps in brackets):", ""];
  l.push(`[Step 1, this CA host] Done. A running \`fleetca server\` serves the new CA within a second, without a restart;`);
  l.push(p.mode === "compromise" ? "  from then on it refuses every certificate of the old CA and logs the node that must re-enroll." : "  it accepts old-CA certificates until the overlap ends and renews them into new-CA certificates.");
  const hosts = p.infra.length > 0 ? p.infra : ["<puppetdb host>", "<console host>"];
  hosts.forEach((h, i) => {
    const step = i === 0 ? 2 : 3;
    const cred = path.join(out, h);
    l.push("", `[Step ${step}, on ${h}] stop its services, then replace its credentials with those under ${cred}:`);
    if (formats.includes("ssldir")) {
      l.push(`  sudo rm -r /etc/puppetlabs/puppet/ssl && sudo cp -a ${cred}/ssl /etc/puppetlabs/puppet/ssl`);
    }
    if (formats.includes("puppetdb")) {
      l.push(`  sudo cp ${cred}/puppetdb/{ca.pem,public.pem,private.pem} /etc/puppetlabs/puppetdb/ssl/ && sudo chown puppetdb: /etc/puppetlabs/puppetdb/ssl/*.pem`);
    }
    if (formats.includes("pkcs12")) {
      l.push(`  a service reading a keystore: ${cred}/pkcs12/${h}.p12 (key, certificate and CA; PKCS#12, e.g. keytool -list -storetype PKCS12 -keystore ${h}.p12)`);
    }
    l.push("  start the services again, then: sudo puppet agent -t");
  });
  l.push("", "[Step 4, every agent node]");
  const at = `--server ${server.host}${server.port === 8140 ? "" : ` --port ${server.port}`}`;
  if (p.mode === "compromise") {
    l.push("  Puppet:  sudo puppet ssl clean --localca && sudo puppet agent -t     (--localca: Puppet 7 keeps its copy of the old CA otherwise, and refuses the new one)");
    l.push(`  fleetca: sudo fleetca agent clean && sudo fleetca agent bootstrap ${at}`);
  } else {
    l.push("  Nothing is needed until the overlap ends: agents keep working with their old certificates. Before it ends, to move a node without enrolling it again:");
    l.push(`  Puppet:  sudo fleetca agent renew --ssldir "$(sudo puppet config print ssldir)" --certname "$(sudo puppet config print certname)" ${at}`);
    l.push(`  fleetca: sudo fleetca agent renew ${at}     (a regular \`fleetca agent bootstrap\` does it by itself after its next CA refresh)`);
    l.push("  After the overlap, a node that did not move enrolls again: sudo puppet ssl clean --localca && sudo puppet agent -t, or fleetca agent clean --all && fleetca agent bootstrap.");
  }
  l.push("  If autosigning is off, sign the requests as they arrive: fleetca ca list, fleetca ca sign NAME.");
  l.push("", `Follow the nodes coming back: fleetca ca regenerate --status  (${p.nodes.length} to go)`);
  return l;
}

function statusLines(s: RegenerationStatus): string[] {
  if (!s.active) return ["No regeneration is being tracked."];
  const l = [
    `Regeneration (${s.mode}) started ${s.startedAt}: old CA ${s.oldCaFingerprint}, new CA ${s.newCaFingerprint}${s.overlapUntil ? `; old CA trusted until ${s.overlapUntil}` : ""}`,
    `${s.reenrolled} of ${s.total} node(s) re-enrolled, ${s.dismissed} dismissed, ${s.remaining} remaining`,
  ];
  for (const n of s.nodes) l.push(`  ${n.name}${n.lastSeenAt ? `  last seen with an old certificate ${n.lastSeenAt} from ${n.lastSeenAddress}` : "  not seen since"}`);
  return l;
}

export function register(ca: Command, io: Io, setCode: (c: number) => void): void {
  caOptions(ca.command("regenerate").description("replace the CA (seed 001): backup, new CA and server certificate, infrastructure credentials, re-enrollment tracking"))
    .option("--dry-run", "print the plan and change nothing")
    .option("--infra <names>", "infrastructure hosts (PuppetDB, console) to issue credentials for, comma-separated")
    .option("--out <dir>", "where the infrastructure credentials go (default: regenerated-<time> beside the CA directory)")
    .option("--format <formats>", "credential layouts: ssldir (Puppet's), puppetdb, pkcs12 (NAME.p12: key, certificate and CA), comma-separated (default ssldir,puppetdb); with --status: text or json")
    .option("--pkcs12-passphrase-file <file>", "pkcs12: the files' passphrase is this file's first line (default: a random one per host, written beside its file, 0600)")
    .option("--mode <mode>", "compromise (default: the old CA is refused at once) or rotate (trusted until --overlap ends)", "compromise")
    .option("--overlap <duration>", "rotate: how long the old CA stays trusted (e.g. 30d)")
    .option("--passphrase-file <file>", "encrypt the backup with this passphrase (or set FLEETCA_BACKUP_PASSPHRASE)")
    .option("--backup-out <file>", "where the backup goes (default: fleetca-backup-<time>.fleetca beside the CA directory)")
    .option("--key-type <type>", "the new CA key: rsa or ec (default: as the old CA's)")
    .option("--keylength <bits>", "RSA key size of the new CA")
    .option("--curve <name>", "EC curve of the new CA")
    .option("--ca-ttl <duration>", "lifetime of the new CA certificate")
    .option("--certname <name>", "the CA server's certname (its new certificate; default: the certname setting)")
    .option("--status", "list the old CA's nodes that have not re-enrolled yet")
    .option("--dismiss <names>", "take nodes that will never come back off the list, comma-separated (audited)")
    .option("--end-overlap", "rotate: stop trusting the old CA now instead of at the end of --overlap (audited)")
    .action(
      guarded(io, setCode, async (...args) => {
        const flags = args[0] as Flags;
        const settings = settingsFrom({ config: flags.config, cadir: flags.cadir, store: flags.store, keyType: flags.keyType, keylength: flags.keylength, curve: flags.curve, caTtl: flags.caTtl, certname: flags.certname }, io);
        const { store, ca: authority, by } = await openCa(settings);
        if (flags.dismiss !== undefined) {
          const names = splitList(flags.dismiss) ?? [];
          await dismissNodes(store, names, new Date(), by);
          io.out(`Dismissed ${names.join(", ")}: no longer expected to re-enroll.`);
          return Exit.OK;
        }
        if (flags.endOverlap) {
          const at = await endOverlap(store, new Date(), by);
          io.out(`The old CA is no longer trusted since ${at.toISOString()}: running servers refuse its certificates and present their new-CA certificate within a second.`);
          const s = await regenerationStatus(store);
          if (s.remaining > 0) io.out(`${s.remaining} node(s) had not moved to the new CA; they must re-enroll (fleetca ca regenerate --status lists them).`);
          return Exit.OK;
        }
        if (flags.status) {
          const s = await regenerationStatus(store);
          if (flags.format === "json") io.out(JSON.stringify(s));
          else for (const l of statusLines(s)) io.out(l);
          return Exit.OK;
        }
        // --format json is the output's (with --status or --dry-run); credentials then come in the default layouts.
        const formats = (flags.format === "json" ? [...DEFAULT_FORMATS] : (splitList(flags.format) ?? [...DEFAULT_FORMATS])) as CredFormat[];
        const bad = formats.filter((f) => !(FORMATS as readonly string[]).includes(f));
        if (bad.length > 0) {
          io.err(`Error: --format ${bad.join(",")} is not a credential layout; use ${FORMATS.join(", ")} (comma-separated)`);
          return Exit.USAGE;
        }
        if (flags.mode !== "compromise" && flags.mode !== "rotate") {
          io.err(`Error: --mode must be compromise or rotate, not "${flags.mode}"`);
          return Exit.USAGE;
        }
        // The old key's kind is the default for the new one; a CA whose key cannot be opened here (no passphrase) refuses, saying why.
        const oldKey = signingKey(await authority.current(true));
        const old = oldKey.asymmetricKeyDetails ?? {};
        const opts: RegenerateOptions = {
          mode: flags.mode,
          ...(flags.overlap ? { overlapSeconds: parseDuration(flags.overlap) } : {}),
          infra: splitList(flags.infra) ?? [],
          key: keyFor(settings, flags, { type: oldKey.asymmetricKeyType ?? "", bits: old.modulusLength, curve: old.namedCurve }),
          caTtl: settings.caTtl,
          crlTtl: settings.crlTtl,
          server: { certname: settings.certname, altNames: serverAltNames(settings, os.hostname()) },
          now: new Date(),
          by,
        };
        const plan = await planRegeneration(authority, opts);
        const cadirParent = path.dirname(path.resolve(io.cwd, settings.cadir));
        const out = flags.out ? path.resolve(io.cwd, flags.out) : path.join(settings.store === "file:" ? cadirParent : io.cwd, `regenerated-${stampNow()}`);
        const backupFile = flags.backupOut ? path.resolve(io.cwd, flags.backupOut) : defaultArchivePath(settings, io);
        const ssldir = serverSsldir(settings);
        const passphrase = passphraseFrom(flags.passphraseFile, io);
        const p12Passphrase = pkcs12PassphraseFrom(flags.pkcs12PassphraseFile, io.cwd);
        if (flags.dryRun) {
          if (flags.format === "json") io.out(JSON.stringify({ dryRun: true, ...plan, backup: backupFile, out, ssldir, formats }));
          else {
            for (const l of planLines(plan, backupFile, out, ssldir)) io.out(l);
            if (plan.infra.length > 0) io.out(`Credential layouts: ${formats.join(", ")}, under ${plan.infra.map((n) => path.join(out, n)).join(", ")}.`);
            io.out(`Backup would be ${passphrase !== undefined ? "encrypted (scrypt, AES-256-GCM)" : "NOT encrypted (pass --passphrase-file to encrypt it)"}.`);
            io.out("Dry run: nothing was changed.");
          }
          return Exit.OK;
        }
        if (fs.existsSync(out) && fs.readdirSync(out).length > 0) {
          io.err(`Error: ${out} exists and is not empty: choose another --out (credentials are never written over others)`);
          return Exit.USAGE;
        }
        for (const l of planLines(plan, backupFile, out, ssldir)) io.err(l);
        io.progress("backing up…");
        let backup;
        try {
          backup = await takeBackup(store, settings, backupFile, passphrase, by);
        } catch (e) {
          io.err(`Error: the backup could not be taken or verified, so nothing was changed: ${(e as Error).message}`);
          return Exit.FAILED;
        }
        for (const l of describeBackup(backup)) io.out(l);
        io.progress("generating the new CA…");
        const r = await regenerateCa(authority, opts);
        io.progress("");
        const server = new Ssldir(ssldir);
        // rotate: the server presents its old-CA certificate until the overlap ends (server/rotation-identity.ts).
        const overlap = r.mode === "rotate" ? await activeOverlap(store, new Date()) : undefined;
        if (overlap) await keepPreviousIdentity(server, new Ssldir(path.join(ssldir, PREVIOUS_CA_DIR)), settings.certname, overlap, new Date());
        await server.writeIdentity(settings.certname, r.serverCredentials.keyPem, r.serverCredentials.certPem);
        await server.writeCa(r.caCertPem, r.crlPem);
        io.out(`New CA "${r.caName}": ${r.newCaFingerprint}`);
        io.out(`Server certificate for ${settings.certname} in ${ssldir}`);
        for (const i of r.infraCredentials) {
          const where = await writeCredentials(out, i.name, i.credentials, r.caCertPem, r.crlPem, formats, p12Passphrase);
          io.out(`Credentials for ${i.name}: ${where.join(", ")}`);
        }
        io.out(`Tracking ${r.nodes.length} node(s) of the old CA until they re-enroll.`);
        for (const l of nextSteps(r, out, formats, { host: settings.certname, port: settings.port })) io.out(l);
        return Exit.OK;
      }),
    );
}
