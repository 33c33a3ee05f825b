/**
 * Autosigning with Puppet's semantics (reference section 6): off, on, a glob file re-read
 * on every request, or a policy executable. The executable itself is run by an adapter
 * (host/autosign-command.ts): the CA only decides what to ask.
 */

export interface AutosignDecision {
  sign: boolean;
  /** Why, for the log: "autosign is true", "matched '*.example.com' in /etc/…", "exit code 3". */
  reason: string;
}

export interface Autosigner {
  decide(name: string, csrPem: string): Promise<AutosignDecision>;
}

export const AUTOSIGN_OFF: Autosigner = { decide: async () => ({ sign: false, reason: "autosign is off" }) };
export const AUTOSIGN_ON: Autosigner = { decide: async () => ({ sign: true, reason: "autosign is true" }) };

export interface GlobLine {
  line: number;
  pattern: string;
}

export interface GlobFile {
  patterns: GlobLine[];
  /** Lines that are not valid patterns: Puppet logs and skips them. */
  invalid: GlobLine[];
}

/** Puppet's whitelist format: blank lines and lines starting with '#' skipped; '#' or space elsewhere is invalid. */
export function parseGlobFile(text: string): GlobFile {
  const patterns: GlobLine[] = [];
  const invalid: GlobLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.length === 0 || raw.startsWith("#")) return;
    if (raw.trim().length === 0) return;
    if (/[#\s]/.test(raw)) invalid.push({ line: i + 1, pattern: raw });
    else patterns.push({ line: i + 1, pattern: raw });
  });
  return { patterns, invalid };
}

/**
 * One pattern against one name. '*' alone matches everything; a leading '*' is a domain
 * glob: the rest must be a suffix of the name by labels, and the bare domain matches too
 * (as Puppet does); anything else is an exact, case-insensitive match.
 */
export function globMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p === "*") return true;
  if (p.startsWith("*")) {
    const domain = p.slice(1).replace(/^\./, "").split(".").filter(Boolean);
    const labels = n.split(".").filter(Boolean);
    if (domain.length > labels.length) return false;
    return domain.every((d, i) => labels[labels.length - domain.length + i] === d);
  }
  return p === n;
}

/** A glob-file autosigner; `read` returns the file's text on every call, so edits need no restart. */
export function globAutosigner(source: string, read: () => Promise<string>, onInvalid: (l: GlobLine) => void): Autosigner {
  return {
    async decide(name) {
      let text: string;
      try {
        text = await read();
      } catch {
        return { sign: false, reason: `autosign file ${source} cannot be read` };
      }
      const file = parseGlobFile(text);
      file.invalid.forEach(onInvalid);
      const hit = file.patterns.find((p) => globMatches(p.pattern, name));
      return hit
        ? { sign: true, reason: `matched '${hit.pattern}' (line ${hit.line}) in ${source}` }
        : { sign: false, reason: `no pattern in ${source} matches` };
    },
  };
}
