/**
 * Runs the real Puppet agent (`puppet ssl ...`) with a private confdir, ssldir and vardir
 * per agent, so tests never touch /etc/puppet or each other.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** Why the Puppet interop tests cannot run here, or undefined when they can. */
export function puppetMissing(): string | undefined {
  const r = spawnSync("puppet", ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return "puppet is not installed: run scripts/install-system-deps.sh (Debian's puppet-agent) to run the Puppet interop tests";
  return undefined;
}

export interface Agent {
  certname: string;
  root: string;
  confdir: string;
  ssldir: string;
}

export function makeAgent(base: string, certname: string): Agent {
  const root = path.join(base, certname);
  const confdir = path.join(root, "conf");
  fs.mkdirSync(confdir, { recursive: true });
  return { certname, root, confdir, ssldir: path.join(root, "ssl") };
}

export interface PuppetResult {
  code: number | null;
  /** stdout and stderr together, in order of arrival. */
  out: string;
}

/**
 * `puppet ssl ACTION` for the agent against a server on localhost:port. The agent's key is
 * RSA-2048 (Puppet's default is 4096) to keep the suite fast; nothing else is changed.
 */
export function puppetSsl(action: string, agent: Agent, port: number, extra: string[] = [], timeoutMs = 120_000): Promise<PuppetResult> {
  return puppetCommand(["ssl", action], agent, port, extra, timeoutMs);
}

/** Any `puppet` application (`["filebucket", "backup", FILE, "--remote"]`) with the agent's private directories. */
export function puppetCommand(command: string[], agent: Agent, port: number, extra: string[] = [], timeoutMs = 120_000): Promise<PuppetResult> {
  const d = (n: string) => path.join(agent.root, n);
  const args = [
    ...command, "--certname", agent.certname, "--server", "localhost", "--serverport", String(port),
    "--confdir", agent.confdir, "--ssldir", agent.ssldir, "--vardir", d("var"), "--logdir", d("log"), "--rundir", d("run"),
    "--codedir", d("code"), "--publicdir", d("public"), "--keylength", "2048", "--color", "false", ...extra,
  ];
  return new Promise((resolve) => {
    const child = spawn("puppet", args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "", HOME: agent.root, LANG: "C.UTF-8" } });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** The agent's issued certificate, as Puppet saved it. */
export const agentCert = (a: Agent): string => fs.readFileSync(path.join(a.ssldir, "certs", `${a.certname}.pem`), "utf8");
