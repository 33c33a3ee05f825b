/** Runs `fleetca` commands in process (fast) or as a child process (concurrency, signals). */
import { spawn } from "node:child_process";
import path from "node:path";
import { run } from "../../src/cli/main.js";
import { bufferIo } from "../../src/cli/io.js";
import { openssl, tmpDir } from "./openssl.js";
import { childEnv } from "./server-process.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function fleetca(args: string[], cwd = process.cwd()): Promise<CliResult> {
  const io = bufferIo({}, cwd);
  const code = await run(args, io);
  return { code, stdout: io.stdout.join("\n"), stderr: io.stderr.join("\n") };
}

const ROOT = path.resolve(import.meta.dirname, "../..");

/** The CLI as a separate process, through tsx (no build needed). */
export function fleetcaProcess(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "test/helpers/cli-entry.ts"), ...args], {
      cwd: ROOT,
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A CSR made by the openssl CLI (as an appliance would), with optional SANs and extensions. */
export function opensslCsr(cn: string, opts: { san?: string; ext?: string[]; dir?: string } = {}): { csrPem: string; keyFile: string } {
  const d = opts.dir ?? tmpDir();
  const keyFile = path.join(d, `${cn.replace(/[^a-z0-9._-]/gi, "_")}.key`);
  const args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-subj", `/CN=${cn}`];
  if (opts.san) args.push("-addext", `subjectAltName=${opts.san}`);
  for (const e of opts.ext ?? []) args.push("-addext", e);
  const r = openssl(args);
  if (!r.ok) throw new Error(r.out);
  return { csrPem: r.out.slice(r.out.indexOf("-----BEGIN CERTIFICATE REQUEST-----")), keyFile };
}
