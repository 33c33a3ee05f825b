/** A throwaway PostgreSQL cluster for tests, through scripts/pg-test-server.sh. */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const SCRIPT = path.resolve(import.meta.dirname, "../../scripts/pg-test-server.sh");

/** Why the PostgreSQL tests cannot run here, or undefined when they can. */
export function pgUnavailable(): string | undefined {
  const root = "/usr/lib/postgresql";
  const versions = fs.existsSync(root) ? fs.readdirSync(root) : [];
  if (versions.some((v) => fs.existsSync(path.join(root, v, "bin/initdb")))) return undefined;
  return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install the postgresql package (scripts/install-system-deps.sh) to run the PostgreSQL store tests";
}

export interface PgServer {
  url: string;
  /** The cluster's directory (scripts/pg-test-server.sh's DIR). */
  dir: string;
  stop(): Promise<void>;
  /** Stops the server hard (immediate: as a crash), keeping its data. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port. */
  resume(): Promise<void>;
  /** A standby: becomes the primary. */
  promote(): Promise<void>;
  /** Suspends the server (SIGSTOP): its connections stay open and nothing answers. */
  freeze(): Promise<void>;
  /** Lets a frozen server run on. */
  thaw(): Promise<void>;
}

const script = async (...args: string[]) => void (await run("bash", [SCRIPT, ...args], { timeout: 60_000 }));

function handle(url: string, dir: string): PgServer {
  return {
    url,
    dir,
    stop: () => script("stop", dir),
    halt: () => script("halt", dir),
    resume: () => script("resume", dir),
    promote: () => script("promote", dir),
    freeze: () => script("freeze", dir),
    thaw: () => script("thaw", dir),
  };
}

/** A streaming-replication standby of `primary`, synchronous (the primary's commits wait for it). */
export async function startStandby(primary: PgServer): Promise<PgServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleetca-pg-"));
  try {
    const { stdout } = await run("bash", [SCRIPT, "standby", primary.dir, dir], { timeout: 120_000 });
    const url = stdout.trim().split("\n").pop() ?? "";
    if (!url.startsWith("postgres://")) throw new Error(`pg-test-server printed no URL: ${stdout}`);
    return handle(url, dir);
  } catch (e) {
    await script("stop", dir).catch(() => undefined);
    throw e;
  }
}

/**
 * The CA key passphrase every test store on PostgreSQL uses, as production must have one
 * (the store keeps the key only encrypted). Set in the test process's environment, so
 * stores opened here and server processes started from here find it as fleetca would.
 */
export const TEST_PASSPHRASE = "correct horse battery staple (tests only)";

/** `serverOptions`: more `-c name=value` options for the server (PG_TEST_SERVER_OPTS of the script). */
export async function startPg(opts: { serverOptions?: string } = {}): Promise<PgServer> {
  process.env.FLEETCA_CA_PASSPHRASE ??= TEST_PASSPHRASE;
  // Directly under the temp dir: as root the cluster runs as "postgres", which must reach it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleetca-pg-"));
  const stop = async () => void (await run("bash", [SCRIPT, "stop", dir], { timeout: 60_000 }));
  try {
    const env = opts.serverOptions === undefined ? process.env : { ...process.env, PG_TEST_SERVER_OPTS: opts.serverOptions };
    const { stdout } = await run("bash", [SCRIPT, "start", dir], { timeout: 60_000, env });
    const url = stdout.trim().split("\n").pop() ?? "";
    if (!url.startsWith("postgres://")) throw new Error(`pg-test-server printed no URL: ${stdout}`);
    return handle(url, dir);
  } catch (e) {
    // A cluster started before a later step failed must not outlive the test.
    await stop().catch(() => undefined);
    throw e;
  }
}
