/**
 * `fleetca agent bootstrap|renew|verify|show|clean`: the client side of a Puppet CA, for nodes that need
 * credentials without running Puppet. The clock and sleep are injectable so tests move time instead of waiting.
 */
import { Command, CommanderError } from "commander";
import { CaClient } from "../agent/client.js";
import { runAgent } from "../agent/driver.js";
import { Ssldir } from "../agent/ssldir.js";
import type { AgentOptions } from "../agent/states.js";
import { normalizeFingerprint } from "../agent/trust.js";
import { registerLocalVerbs } from "./agent-local.js";
import { agentGuarded, agentSettings, fixContext, nodeOptions, REAL_DEPS, serverOptions, type AgentCliDeps, type AgentFlags } from "./agent-common.js";
import { printAgentError, printEvent } from "./agent-render.js";
import { keySpecOf } from "../config/index.js";
import { Exit } from "./exit-codes.js";
import type { Io } from "./io.js";

async function bootstrapAction(flags: AgentFlags & { caFingerprint?: string }, io: Io, deps: AgentCliDeps, mode: AgentOptions["mode"]): Promise<number> {
  const settings = agentSettings(flags, io);
  const fix = fixContext(flags, settings);
  let caFingerprint: string | undefined;
  if (flags.caFingerprint !== undefined) {
    caFingerprint = normalizeFingerprint(flags.caFingerprint);
    if (!caFingerprint) {
      io.err(`Error: --ca-fingerprint ${JSON.stringify(flags.caFingerprint)} is not a SHA-256 fingerprint (64 hex digits, colons optional), as \`fleetca ca fingerprint ca\` prints it.`);
      return Exit.USAGE;
    }
  }
  const opts: AgentOptions = {
    certname: settings.certname,
    waitforcert: settings.waitforcert,
    maxwaitforcert: settings.maxwaitforcert,
    hostcertRenewalInterval: settings.hostcertRenewalInterval,
    caRefreshInterval: settings.caRefreshInterval,
    crlRefreshInterval: settings.crlRefreshInterval,
    dnsAltNames: settings.dnsAltNames,
    csrAttributesFile: settings.csrAttributes,
    keySpec: keySpecOf(settings),
    caFingerprint,
    mode,
  };
  const client = new CaClient({ ca: { host: settings.caServer, port: settings.caPort }, server: { host: settings.server, port: settings.port } });
  try {
    const outcome = await runAgent({ opts, client, ssldir: new Ssldir(settings.ssldir, settings.certname), deps: { ...deps, emit: (e) => printEvent(io, e) } });
    if (outcome.name === "Error") return printAgentError(io, outcome.error, fix);
    io.out(mode === "renew" ? "Completed certificate renewal" : "Completed SSL initialization");
    return Exit.OK;
  } finally {
    client.close();
  }
}

export function register(program: Command, io: Io, setCode: (c: number) => void, deps: AgentCliDeps = REAL_DEPS): Command {
  const agent = program.command("agent").description("enroll this node with a Puppet-compatible CA and manage its credentials");
  serverOptions(nodeOptions(agent.command("bootstrap").description("get this node's certificate: the six steps of Puppet's agent bootstrap")))
    .option("--waitforcert <secs>", "poll for the signed certificate every SECS; 0 exits at once (default 120)")
    .option("--maxwaitforcert <secs>", "give up after SECS of polling (default unlimited)")
    .option("--dns-alt-names <a,b>", "extra DNS names to request (the certname is added first)")
    .option("--csr-attributes <file>", "csr_attributes.yaml: custom_attributes and extension_requests")
    .option("--key-type <type>", "rsa (default, RSA 4096) or ec (P-256)")
    .option("--keylength <bits>", "RSA key size")
    .option("--curve <name>", "EC curve: P-256 (default) or P-384")
    .option("--ca-fingerprint <fp>", "pin the CA certificate on first contact (SHA-256, as `fleetca ca fingerprint ca` prints it)")
    .option("--hostcert-renewal-interval <dur>", "renew when the certificate expires within this (default 30d; 0: never)")
    .option("--ca-refresh-interval <dur>", "refresh the saved CA certificate this often (default 1d)")
    .option("--crl-refresh-interval <dur>", "refresh the saved CRL this often (default 1d)")
    .action(agentGuarded(io, setCode, (flags) => bootstrapAction(flags, io, deps, "bootstrap")));
  serverOptions(nodeOptions(agent.command("renew").description("get a fresh certificate for this node's key now (certificate_renewal)")))
    .action(agentGuarded(io, setCode, (flags) => bootstrapAction(flags, io, deps, "renew")));
  registerLocalVerbs(agent, io, setCode, deps);
  agent.commands.forEach((c) => c.exitOverride());
  return agent.exitOverride();
}

/** `fleetca agent …` on its own, for tests that inject a clock: run(["bootstrap", …], io, deps). */
export async function runAgentCli(argv: string[], io: Io, deps: AgentCliDeps = REAL_DEPS): Promise<number> {
  let code: number = Exit.OK;
  const program = new Command("fleetca").exitOverride().configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  register(program, io, (c) => (code = c), deps);
  try {
    await program.parseAsync(["agent", ...argv], { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.code === "commander.helpDisplayed" || e.code === "commander.help" ? Exit.OK : Exit.USAGE;
    throw e;
  }
  return code;
}
