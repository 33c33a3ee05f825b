/**
 * The autosign allow-list as the console edits it: read and rewrite the glob file named by
 * the `autosign` setting (Puppet's autosign.conf format). Only a glob file is editable:
 * `true`, `false` and a policy executable are shown but changed in the config, not here.
 * The file is replaced atomically, comment lines kept at the top, and is re-read by the
 * autosigner on every request, so an edit applies to the next submission.
 */
import { readFile } from "node:fs/promises";
import { globMatches, parseGlobFile, type GlobLine } from "../ca/autosign.js";
import { CaError } from "../ca/errors.js";
import { isExecutableFile } from "./autosign.js";
import { writeFileAtomic } from "../store/file/atomic.js";

export type AutosignMode = "off" | "on" | "file" | "command";

export interface AutosignEntries {
  mode: AutosignMode;
  /** The file, for "file" and "command". */
  path?: string;
  /** Admins may change the entries (a glob file, or a path with no file yet). */
  editable: boolean;
  entries: GlobLine[];
  /** Lines Puppet would skip as invalid (shown so they can be fixed). */
  invalid: GlobLine[];
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export async function readAutosignEntries(setting: boolean | string): Promise<AutosignEntries> {
  if (setting === false) return { mode: "off", editable: false, entries: [], invalid: [] };
  if (setting === true) return { mode: "on", editable: false, entries: [], invalid: [] };
  if (await isExecutableFile(setting)) return { mode: "command", path: setting, editable: false, entries: [], invalid: [] };
  const text = (await readOptional(setting)) ?? "";
  const file = parseGlobFile(text);
  return { mode: "file", path: setting, editable: true, entries: file.patterns, invalid: file.invalid };
}

const PATTERN = /^(\*|\*?\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?)$/;

/** Checks one pattern as the console accepts it: a certname, `*.domain`, or `*`. */
export function checkPattern(p: string): string {
  if (!PATTERN.test(p) || p.length > 253) {
    throw new CaError("invalid-request", `${JSON.stringify(p)} is not an autosign pattern: use a certname (web1.example.com), a domain glob (*.example.com) or * for everything.`);
  }
  return p;
}

/** Replaces the glob file's entries; the comment lines at its top are kept. */
export async function writeAutosignEntries(setting: boolean | string, patterns: readonly string[]): Promise<AutosignEntries> {
  const current = await readAutosignEntries(setting);
  if (!current.editable || !current.path) {
    const why = current.mode === "command" ? `a policy executable (${current.path})` : `autosign = ${String(setting)}`;
    throw new CaError("conflict", `The autosign entries cannot be edited here: the server is configured with ${why}. Set autosign to the path of a glob file (autosign.conf) to edit entries in the console.`);
  }
  patterns.forEach(checkPattern);
  const old = (await readOptional(current.path)) ?? "";
  const header = old.split(/\r?\n/).filter((l, i, all) => l.startsWith("#") && all.slice(0, i).every((x) => x.startsWith("#")));
  const text = [...header, ...patterns].join("\n") + (header.length + patterns.length > 0 ? "\n" : "");
  await writeFileAtomic(current.path, text, 0o644);
  return readAutosignEntries(setting);
}

/** Which entry, if any, would sign `name`, by Puppet's matching rules. */
export function testAutosign(entries: AutosignEntries, name: string): { signs: boolean; entry?: GlobLine; rule: string } {
  if (entries.mode === "off") return { signs: false, rule: "autosign is false: nothing is signed automatically." };
  if (entries.mode === "on") return { signs: true, rule: "autosign is true: every request is signed automatically." };
  if (entries.mode === "command") return { signs: false, rule: `autosign runs the policy executable ${entries.path}; its exit code decides, so no entry applies.` };
  const entry = entries.entries.find((e) => globMatches(e.pattern, name));
  if (!entry) return { signs: false, rule: `No entry matches ${name}: the request stays pending until someone signs it.` };
  const how = entry.pattern === "*"
    ? "'*' alone matches every name"
    : entry.pattern.startsWith("*")
      ? `a leading '*' matches the domain ${entry.pattern.slice(1).replace(/^\./, "")} and every name under it, by whole labels, ignoring case`
      : "an entry without '*' matches that exact name, ignoring case";
  return { signs: true, entry, rule: `Line ${entry.line} (${entry.pattern}) matches: ${how}.` };
}
