/**
 * What the server refuses to start with, because it would hand the CA to someone else:
 *   - a name on admin_allow_list that autosign (true, or a glob that matches it) would sign:
 *     whoever submits that name first becomes an administrator;
 *   - a CA key others can read, or a CA directory others can write (file store): anyone on
 *     the host could sign, or swap the key or the certificates.
 * Each problem says how to fix it. The CA also never autosigns an allow-listed name
 * (ca/authority.ts), so a glob added later while running does not reopen the hole.
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { globMatches, parseGlobFile } from "../ca/autosign.js";
import { trailingDotTwin } from "../ca/names.js";

export interface StartupProblem {
  setting: string;
  message: string;
}

/** Allow-listed admin names autosign would sign; a policy executable cannot be judged and is left to the CA's guard. */
export function adminAutosignProblems(adminAllowList: readonly string[], autosign: boolean | string, isExecutable: (p: string) => boolean): StartupProblem[] {
  if (adminAllowList.length === 0 || autosign === false) return [];
  let matches: (name: string) => string | undefined;
  if (autosign === true) matches = () => "autosign is true";
  else {
    if (isExecutable(autosign)) return [];
    let text: string;
    try {
      text = readFileSync(autosign, "utf8");
    } catch {
      return [];
    }
    const patterns = parseGlobFile(text).patterns;
    matches = (name) => {
      const hit = patterns.find((p) => globMatches(p.pattern, name) || globMatches(p.pattern, trailingDotTwin(name)));
      return hit && `'${hit.pattern}' (line ${hit.line} of ${autosign}) matches it`;
    };
  }
  const out: StartupProblem[] = [];
  for (const name of adminAllowList) {
    const why = matches(name);
    if (!why) continue;
    out.push({
      setting: "admin_allow_list",
      message:
        `${name} is on admin_allow_list and autosign would sign it (${why}): whoever submitted that name first would become an administrator. ` +
        `Sign administrators by hand: remove ${name} from admin_allow_list (give its certificate pp_cli_auth instead) or make autosign not match it.`,
    });
  }
  return out;
}

/** A CA key others can read or a CA directory others can write, with the chmod that fixes each. */
export function caPermissionProblems(cadir: string): StartupProblem[] {
  const out: StartupProblem[] = [];
  const modeOf = (p: string) => statSync(p, { throwIfNoEntry: false })?.mode;
  const key = path.join(cadir, "ca_key.pem");
  const keyMode = modeOf(key);
  if (keyMode !== undefined && (keyMode & 0o007) !== 0) {
    out.push({ setting: "ca_permissions", message: `The CA key ${key} is open to every user on this host (mode ${octal(keyMode)}): anyone could sign certificates. Fix: chmod o-rwx ${key} (fleetca writes it 0600).` });
  }
  for (const dir of [cadir, path.join(cadir, "requests"), path.join(cadir, "signed")]) {
    const mode = modeOf(dir);
    if (mode !== undefined && (mode & 0o002) !== 0) {
      out.push({ setting: "ca_permissions", message: `The CA directory ${dir} is writable by every user on this host (mode ${octal(mode)}): anyone could replace the CA's files. Fix: chmod o-w ${dir} (fleetca makes it 0750).` });
    }
  }
  return out;
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;
