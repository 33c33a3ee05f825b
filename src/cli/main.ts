/** The `fleetca` command: run(argv, io) -> exit code. Only this layer prints. */
import { Command, CommanderError } from "commander";
import { Exit } from "./exit-codes.js";
import { processIo, type Io } from "./io.js";
import * as list from "./ca/list.js";
import * as sign from "./ca/sign.js";
import * as revokeClean from "./ca/revoke-clean.js";
import * as inspect from "./ca/inspect.js";
import * as setup from "./ca/setup.js";
import * as submitGenerate from "./ca/submit-generate.js";
import * as audit from "./ca/audit.js";
import * as crl from "./ca/crl.js";
import * as updateCrls from "./ca/update-crls.js";
import * as migrate from "./ca/migrate.js";
import * as lifecycle from "./ca/lifecycle.js";
import * as check from "./ca/check.js";
import * as passphrase from "./ca/passphrase.js";
import { locatedIo, locationFlags } from "./located.js";
import { registerExtensions } from "./registry.js";
import { VERSION } from "./version.js";

/** The whole command tree (also read by the help test and the settings reference generator). */
export function buildProgram(io: Io, setCode: (c: number) => void): Command {
  const program = new Command("fleetca")
    .description("a Puppet-compatible certificate authority for fleets of machines")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showSuggestionAfterError()
    .version(VERSION, "-V, --version", "print the version of fleetca");
  const ca = program.command("ca").description("manage the certificate authority (on the CA host)");
  for (const m of [list, sign, revokeClean, inspect, setup, submitGenerate, audit, crl, updateCrls, lifecycle, check, migrate, passphrase]) m.register(ca, io, setCode);
  registerExtensions(program, io, setCode);
  for (const c of [program, ca, ...ca.commands]) c.exitOverride();
  return program;
}

export async function run(argv: string[], outer: Io): Promise<number> {
  let code: number = Exit.OK;
  const { io, locate } = locatedIo(outer);
  const program = buildProgram(io, (c) => {
    code = c;
  });
  // The commands a `ca`, `console` or `server` command prints carry the location flags typed here (located.ts);
  // an agent's --config is the node's, never the CA's.
  program.hook("preAction", (_program, action) => {
    const under = action.parent?.name();
    if (under !== "ca" && under !== "console" && action.name() !== "server") return;
    const opts = action.opts<{ config?: string; cadir?: string; store?: string; format?: string }>();
    locate(locationFlags(opts, outer.cwd), opts.format === "json");
  });
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return Exit.OK;
      return Exit.USAGE;
    }
    throw e;
  }
  return code;
}

export function main(argv: string[]): Promise<number> {
  return run(argv, processIo());
}
