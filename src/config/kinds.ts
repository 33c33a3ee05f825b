/**
 * Value kinds: each turns one raw value (from YAML, an environment string, a parsed flag, or caller defaults) into
 * a typed setting, or says what was expected. They never throw; load.ts adds the setting name and the source.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { DURATION_FORMS, tryParseDuration } from "./duration.js";

export type Parsed<T> = { readonly value: T } | { readonly expected: string };

export interface ParseContext {
  /** Directory that relative paths are resolved against: the config file's for file values, else the cwd. */
  readonly baseDir: string;
}

export type Parser<T> = (raw: unknown, ctx: ParseContext) => Parsed<T>;

const ok = <T>(value: T): Parsed<T> => ({ value });
const bad = (expected: string): Parsed<never> => ({ expected });

/** YAML 1.1 (Ruby's Psych, and ours) reads unquoted yes/no/on/off as booleans: say so when a string was wanted. */
function wanted(what: string, raw: unknown): string {
  if (typeof raw === "boolean") return `${what} (YAML 1.1 reads unquoted yes/no/on/off/true/false as booleans: quote it)`;
  if (typeof raw === "number") return `${what} (quote it if it really is a name)`;
  return what;
}

const TRUE_WORDS = new Set(["true", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "no", "off"]);

/** A boolean, or a string spelling one (true/false, yes/no, on/off; any case) as environment variables do. */
export function toBoolean(raw: unknown): boolean | undefined {
  if (typeof raw === "boolean") return raw;
  if (typeof raw !== "string") return undefined;
  const word = raw.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

export const bool: Parser<boolean> = (raw) => {
  const value = toBoolean(raw);
  return value === undefined ? bad("true or false") : ok(value);
};

export function integer(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = typeof raw === "string" && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= min && n <= max) return ok(n);
    return bad(`an integer from ${min} to ${max}`);
  };
}

/** A Puppet duration in seconds, at least `min`; `unlimited` (Puppet's word for maxwaitforcert) maps to 0. */
export function duration(min: number, opts: { unlimited?: boolean } = {}): Parser<number> {
  const extra = opts.unlimited ? ', or "unlimited" (same as 0)' : "";
  const floor = `a duration${min > 0 ? " greater than 0" : ""}: ${DURATION_FORMS}`;
  return (raw) => {
    if (opts.unlimited && typeof raw === "string" && raw.trim().toLowerCase() === "unlimited") return ok(0);
    const seconds = tryParseDuration(raw);
    return seconds !== undefined && seconds >= min ? ok(seconds) : bad(floor + extra);
  };
}

/** A non-empty string without surrounding whitespace; `check` returns a reason when the string is still wrong. */
export function text(what: string, check?: (s: string) => string | undefined): Parser<string> {
  return (raw) => {
    if (typeof raw !== "string" || raw.trim() === "") return bad(wanted(what, raw));
    const value = raw.trim();
    const reason = check?.(value);
    return reason === undefined ? ok(value) : bad(`${what} (${reason})`);
  };
}

/** A filesystem path, made absolute against the directory of wherever it was written. */
export function path(what = "a filesystem path"): Parser<string> {
  const inner = text(what, (s) => (s.includes("\0") ? "no NUL characters" : undefined));
  return (raw, ctx) => {
    const parsed = inner(raw, ctx);
    return "value" in parsed ? ok(resolve(ctx.baseDir, parsed.value)) : parsed;
  };
}

/** Puppet certnames: lower case (Puppet refuses upper case), printable ASCII, no spaces. */
export function certnameProblem(s: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(s)) return "printable ASCII without spaces";
  if (s !== s.toLowerCase()) return "certnames must be lower case";
  return undefined;
}

/** A host name or IP address literal, loosely: what a resolver or listen() might accept. */
export function hostProblem(s: string): string | undefined {
  if (isIP(s) !== 0) return undefined;
  return /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/.test(s) ? undefined : "a host name or IP address";
}

/** One of `choices`, case-insensitive; `aliases` maps other accepted spellings to a choice. */
export function oneOf<T extends string>(
  choices: readonly T[],
  aliases: Readonly<Record<string, T>> = {},
  expected?: string,
): Parser<T> {
  const describe = expected ?? `one of ${choices.map((c) => JSON.stringify(c)).join(", ")}`;
  return (raw) => {
    if (typeof raw !== "string") return bad(describe);
    const key = raw.trim().toLowerCase();
    const hit = choices.find((c) => c.toLowerCase() === key) ?? aliases[key];
    return hit === undefined ? bad(describe) : ok(hit);
  };
}

/** A list of strings: a YAML/JSON array, or one comma-separated string (Puppet's dns_alt_names spelling). */
export function list(itemWhat: string, check?: (s: string) => string | undefined): Parser<readonly string[]> {
  const expected = `a list of ${itemWhat} (a YAML list or one comma-separated string)`;
  return (raw) => {
    let items: unknown[];
    if (typeof raw === "string") items = raw.split(",");
    else if (Array.isArray(raw)) items = raw;
    else return bad(expected);
    const out: string[] = [];
    for (const [i, item] of items.entries()) {
      if (typeof item !== "string") return bad(`${expected}; item ${i + 1} is not a string`);
      const s = item.trim();
      if (s === "") {
        if (Array.isArray(raw)) return bad(`${expected}; item ${i + 1} is empty`);
        continue; // "a,,b" and a trailing comma are harmless in the string form
      }
      const reason = check?.(s);
      if (reason !== undefined) return bad(`${expected}; item ${JSON.stringify(s)}: ${reason}`);
      out.push(s);
    }
    return ok(out);
  };
}

/**
 * Puppet's `autosign`: true, false, or the path of an allow-list file or policy executable. Strings spelling a
 * boolean become one (`FLEETCA_AUTOSIGN=true`, or `autosign: "false"` in a file).
 */
export const autosign: Parser<boolean | string> = (raw, ctx) => {
  const flag = toBoolean(raw);
  if (flag !== undefined) return ok(flag);
  const asPath = path()(raw, ctx);
  return "value" in asPath ? asPath : bad("true, false, or the path of an autosign allow-list file or policy executable");
};

/** `file:` (the on-disk store in cadir) or a PostgreSQL URL. Kept as written; the store layer interprets it. */
export const storeUrl: Parser<string> = (raw) => {
  const expected = '"file:" (the files under cadir) or a postgres://user@host:port/database URL';
  if (typeof raw !== "string") return bad(expected);
  const value = raw.trim();
  if (value === "file:") return ok(value);
  let url: URL;
  try {
    // libpq's host list (postgres://u@db1:5432,db2:5432/fleetca, for a failover): each host must parse.
    const hosts = /^(postgres(?:ql)?:\/\/(?:[^@/?#]*@)?)([^/?#]*,[^/?#]*)(.*)$/.exec(value);
    if (hosts) {
      for (const h of hosts[2]!.split(",")) if (h === "" || new URL(`postgres://${h}/`).hostname === "") return bad(expected);
      url = new URL(`${hosts[1]}${hosts[2]!.split(",")[0]}${hosts[3]}`);
    } else url = new URL(value);
  } catch {
    return bad(expected);
  }
  if ((url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "") return ok(value);
  return bad(expected);
};

/**
 * An http:// or https:// URL written into certificates (crl_url, ocsp_url, ca_issuers_url), or "" for none. Kept as
 * written (no normalizing: the certificate says what the operator wrote), and ASCII only, as an IA5String must be.
 */
export const urlOrNone: Parser<string> = (raw) => {
  const expected = 'an http:// or https:// URL (ASCII, no spaces), or "" for none';
  if (typeof raw !== "string") return bad(expected);
  const value = raw.trim();
  if (value === "") return ok("");
  if (!/^[\x21-\x7e]+$/.test(value)) return bad(expected);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return bad(expected);
  }
  return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "" ? ok(value) : bad(expected);
};
