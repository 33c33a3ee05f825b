/**
 * A machine running the real Puppet agent, as an operator's shell on it sees it: `puppet` on the PATH is a wrapper
 * that gives this node its own confdir, whose puppet.conf names its certname, server, port and directories. So a
 * command line from the docs or from a message (`puppet ssl clean`, `puppet ssl bootstrap --serverport 8140`) runs
 * with `sh -c` exactly as written. The node's clock can be set off (`clock`, a libfaketime offset such as "-2d").
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export interface PuppetNode {
  certname: string;
  root: string;
  ssldir: string;
  /** The directory holding this node's `puppet` wrapper. */
  bin: string;
  /** A libfaketime offset ("-2d", "+31d") the node's clock is off by; undefined: the true time. */
  clock?: string;
}

export interface ShellResult {
  code: number | null;
  /** stdout and stderr together, in order of arrival. */
  out: string;
}

const PUPPET = spawnSync("sh", ["-c", "command -v puppet"], { encoding: "utf8" }).stdout.trim();

/** Why a node with a clock off cannot run here, or undefined when it can. */
export function faketimeMissing(): string | undefined {
  return spawnSync("faketime", ["-f", "+1d", "true"]).status === 0 ? undefined : "faketime is not installed: run scripts/install-system-deps.sh";
}

/** Writes [main] of the node's puppet.conf: the agent's settings, RSA-2048 keys (Puppet's 4096 is slow to make). */
export function configure(node: PuppetNode, settings: { certname?: string; server?: string; serverport: number }): void {
  const d = (n: string) => path.join(node.root, n);
  const lines = [
    "[main]",
    `certname = ${settings.certname ?? node.certname}`,
    `server = ${settings.server ?? "localhost"}`,
    `serverport = ${settings.serverport}`,
    `ssldir = ${node.ssldir}`,
    ...["vardir", "logdir", "rundir", "codedir", "publicdir"].map((k) => `${k} = ${d(k.replace("dir", ""))}`),
    "keylength = 2048",
    "color = false",
  ];
  fs.writeFileSync(path.join(node.root, "conf", "puppet.conf"), `${lines.join("\n")}\n`);
}

export function makeNode(base: string, certname: string, serverport: number, name = certname): PuppetNode {
  const root = path.join(base, name);
  const bin = path.join(root, "bin");
  fs.mkdirSync(path.join(root, "conf"), { recursive: true });
  fs.mkdirSync(bin, { recursive: true });
  const node: PuppetNode = { certname, root, ssldir: path.join(root, "ssl"), bin };
  configure(node, { serverport });
  const confdir = path.join(root, "conf");
  fs.writeFileSync(
    path.join(bin, "puppet"),
    `#!/bin/sh\n# This node's puppet: its confdir, and its clock when NODE_CLOCK sets it off.\n` +
      `if [ -n "$NODE_CLOCK" ]; then exec faketime -f "$NODE_CLOCK" ${PUPPET} "$@" --confdir ${confdir}; fi\n` +
      `exec ${PUPPET} "$@" --confdir ${confdir}\n`,
    { mode: 0o755 },
  );
  return node;
}

/** A command running on the node: what it printed so far, and its end. */
export interface Running {
  output(): string;
  done: Promise<ShellResult>;
}

/** Starts a command line on the node with `sh -c`, as pasted into its shell. */
export function startOnNode(node: PuppetNode, line: string, timeoutMs = 300_000): Running {
  const env: NodeJS.ProcessEnv = { PATH: `${node.bin}:${process.env.PATH ?? ""}`, HOME: node.root, LANG: "C.UTF-8" };
  if (node.clock) env.NODE_CLOCK = node.clock;
  let out = "";
  const done = new Promise<ShellResult>((resolve) => {
    const child = spawn("sh", ["-c", line], { cwd: node.root, stdio: ["ignore", "pipe", "pipe"], env });
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
  return { output: () => out, done };
}

/** Runs a command line on the node with `sh -c`, as pasted into its shell. */
export const onNode = (node: PuppetNode, line: string, timeoutMs?: number): Promise<ShellResult> => startOnNode(node, line, timeoutMs).done;
