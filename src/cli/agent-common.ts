/** What every `fleetca agent` verb shares: its flags, settings, the fix-command context and error printing. */
import type { Command } from "commander";
import type { AgentError } from "../agent/errors.js";
import { isAgentError } from "../agent/errors.js";
import type { Clock, Sleep } from "../agent/states.js";
import { settingSources, type Settings } from "../config/index.js";
import { printAgentError, type FixContext } from "./agent-render.js";
import { settingsFrom, type CommonFlags } from "./context.js";
import type { Io } from "./io.js";
import { guarded } from "./shared.js";

export interface AgentCliDeps {
  clock: Clock;
  sleep: Sleep;
}

export const REAL_DEPS: AgentCliDeps = {
  clock: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Where the agent keeps its files when neither flag, env nor config says otherwise. */
export const DEFAULT_SSLDIR = "/var/lib/fleetca/ssl";

export type AgentFlags = CommonFlags & { ssldir?: string; certname?: string; server?: string; port?: string; caServer?: string; caPort?: string };

/** --config, --ssldir, --certname: which node's files. */
export function nodeOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "fleetca YAML config file")
    .option("--ssldir <dir>", `this node's SSL directory, Puppet layout (default ${DEFAULT_SSLDIR})`)
    .option("--certname <name>", "this node's certificate name (default: the host name)");
}

export function serverOptions(cmd: Command): Command {
  return cmd
    .option("--server <host>", "the server to use once enrolled (Puppet's server)")
    .option("--port <n>", "its port (default 8140)")
    .option("--ca-server <host>", "the CA server (default: --server)")
    .option("--ca-port <n>", "the CA server's port (default: --port)");
}

export function agentSettings(flags: AgentFlags, io: Io): Settings {
  return settingsFrom(flags, io, { ssldir: DEFAULT_SSLDIR });
}

const shellQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

/** The user's own flags, so the printed fix commands work as typed. */
export function fixContext(flags: AgentFlags, settings: Settings): FixContext {
  const pick = (pairs: [string, unknown][]) =>
    pairs.filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k} ${shellQuote(String(v))}`).join("");
  const node = pick([["--config", flags.config], ["--ssldir", flags.ssldir], ["--certname", flags.certname]]);
  let server = pick([["--server", flags.server], ["--port", flags.port], ["--ca-server", flags.caServer], ["--ca-port", flags.caPort]]);
  // No server typed: the configured one, or a placeholder rather than the built-in default "puppet".
  if (!server && !flags.config) {
    const fromDefault = (settingSources(settings).server ?? "default").startsWith("default");
    server = fromDefault ? " --server <CA server>" : ` --server ${shellQuote(settings.server)}`;
  }
  // The enrollment flags too (docs/agent.md: fixes repeat the flags you used), so that a pasted bootstrap makes the
  // same kind of key and waits the same way.
  const f = flags as AgentFlags & Record<string, unknown>;
  const enroll = pick([
    ["--waitforcert", f.waitforcert], ["--maxwaitforcert", f.maxwaitforcert], ["--dns-alt-names", f.dnsAltNames], ["--csr-attributes", f.csrAttributes],
    ["--key-type", f.keyType], ["--keylength", f.keylength], ["--curve", f.curve], ["--hostcert-renewal-interval", f.hostcertRenewalInterval],
    ["--ca-refresh-interval", f.caRefreshInterval], ["--crl-refresh-interval", f.crlRefreshInterval],
  ]);
  return { certname: settings.certname, nodeFlags: node, serverFlags: server, enrollFlags: enroll, pinFlag: pick([["--ca-fingerprint", f.caFingerprint]]) };
}

/** Runs an agent action, printing an AgentError with its fix (and everything else as the shared guard does). */
export function agentGuarded(io: Io, setCode: (c: number) => void, fn: (flags: AgentFlags) => Promise<number>) {
  return guarded(io, setCode, async (...args) => {
    const flags = args[0] as AgentFlags;
    try {
      return await fn(flags);
    } catch (e) {
      if (!isAgentError(e)) throw e;
      return printAgentError(io, e as AgentError, fixContext(flags, agentSettings(flags, io)));
    }
  });
}

