/**
 * The `autosign` setting turned into an Autosigner (Puppet's semantics, reference 6):
 * false, true, or a path that is re-examined on every request: an executable file is a
 * policy command, any other file a list of globs (so editing or chmod-ing it needs no restart).
 */
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { AUTOSIGN_OFF, AUTOSIGN_ON, globAutosigner, type Autosigner } from "../ca/autosign.js";
import { runAutosignCommand } from "./autosign-command.js";

/** The part of a pino logger used here, so this adapter does not depend on the logger library. */
export interface HostLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Puppet's rule for the autosign setting: an executable file is a policy command, anything else a glob file. */
export async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A policy executable as an Autosigner; it logs what the command printed, as Puppet does. */
export function commandAutosigner(command: string, timeoutSeconds: number, log: HostLog): Autosigner {
  return {
    async decide(name, csrPem) {
      const r = await runAutosignCommand(command, name, csrPem, timeoutSeconds * 1000);
      if (r.stdout.trim()) log.info({ certname: name }, `Autosign command '${command} ${name}' generated output to stdout: ${r.stdout.trim()}`);
      if (r.stderr.trim()) log.warn({ certname: name }, `Autosign command '${command} ${name}' generated output to stderr: ${r.stderr.trim()}`);
      if (r.spawnError) {
        log.error({ certname: name }, `Autosign command '${command}' could not be run: ${r.spawnError}`);
        return { sign: false, reason: `autosign command ${command} could not be run: ${r.spawnError}` };
      }
      if (r.timedOut) {
        log.warn({ certname: name }, `Autosign command '${command}' did not answer for '${name}' within ${timeoutSeconds}s (autosign_timeout) and was killed; the request stays pending`);
        return { sign: false, reason: `autosign command timed out after ${timeoutSeconds}s` };
      }
      if (r.code !== 0) {
        log.warn({ certname: name }, `Autosign command '${command}' rejected certificate '${name}' because the exit code was ${r.code}, not zero`);
        return { sign: false, reason: `autosign command exited with ${r.code}` };
      }
      return { sign: true, reason: `autosign command ${command} exited 0` };
    },
  };
}

export function autosignerFor(setting: boolean | string, timeoutSeconds: number, log: HostLog): Autosigner {
  if (setting === false) return AUTOSIGN_OFF;
  if (setting === true) return AUTOSIGN_ON;
  const path = setting;
  const command = commandAutosigner(path, timeoutSeconds, log);
  const globs = globAutosigner(
    path,
    () => readFile(path, "utf8"),
    (l) => log.error({ line: l.line }, `Invalid pattern '${l.pattern}' found in ${path}`),
  );
  return {
    async decide(name, csrPem) {
      return (await isExecutableFile(path)) ? command.decide(name, csrPem) : globs.decide(name, csrPem);
    },
  };
}
