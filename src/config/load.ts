/**
 * Loading: built-in defaults < caller defaults < YAML file < FLEETCA_* environment < flags. Every value from every
 * layer is validated, even one a later layer overrides, and all problems are reported together in one ConfigError.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import type { Node } from "yaml";
import {
  applyDerived,
  deepFreeze,
  fileName,
  flagName,
  FIXED_DEFAULTS,
  SETTING_KEYS,
  SPECS,
  type SettingKey,
  type Settings,
  type SettingSpec,
} from "./schema.js";
import { didYouMean, toSnake } from "./suggest.js";

/**
 * The YAML parser, loaded on first use: it is ~40 ms of every command's start-up, and most
 * runs (no config file, no structured FLEETCA_* variable) never parse YAML.
 */
function yaml(): typeof import("yaml") {
  return createRequire(import.meta.url)("yaml") as typeof import("yaml");
}

/** Read when neither `file` nor FLEETCA_CONFIG names a file; its absence is not an error. */
export const DEFAULT_CONFIG_FILE = "/etc/fleetca/fleetca.yaml";
/** Environment variable naming the config file. */
export const CONFIG_ENV = "FLEETCA_CONFIG";

/** Everything wrong with a configuration: `problems` has one line per bad value, the message lists them all. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(`invalid configuration (${count}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = Object.freeze([...problems]);
  }
}

export interface LoadOptions {
  /**
   * YAML config file. A string must exist. Undefined: $FLEETCA_CONFIG (must exist) if set, else
   * DEFAULT_CONFIG_FILE if it exists. null: read no file at all.
   */
  file?: string | null;
  /** Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Parsed command-line values keyed by setting, camelCase or snake_case; undefined values are ignored. */
  flags?: Record<string, unknown>;
  /** Defaults that replace the built-in ones (the CLI's cadir, say). */
  defaults?: Partial<Settings>;
  /** Directory for relative paths given by flags, env or defaults (file values are relative to the file). */
  cwd?: string;
}

/** One value as written somewhere, before validation. */
interface Raw {
  readonly key: SettingKey;
  /** The name it was written under, for messages: ca_ttl, named_curve, FLEETCA_PORT's setting... */
  readonly name: string;
  readonly value: unknown;
  /** Where it came from: "config file /etc/fleetca/fleetca.yaml line 3", "environment variable FLEETCA_PORT"... */
  readonly source: string;
  readonly baseDir: string;
}

/** snake_case name (and alias) -> setting. */
const BY_NAME: ReadonlyMap<string, SettingKey> = new Map(
  SETTING_KEYS.flatMap((key) => [fileName(key), ...(SPECS[key].aliases ?? [])].map((n) => [n, key] as const)),
);

/**
 * The setting a flag or file name refers to ("caTtl", "ca_ttl", "ca-ttl", "named_curve"), or undefined. The CLI can
 * use it to pass only setting flags: loadSettings reports any other flag key as an unknown setting.
 */
export function settingKeyOf(name: string): SettingKey | undefined {
  return BY_NAME.get(toSnake(name));
}

/** Where settingsSummary finds each value's source. */
const SOURCES = new WeakMap<Settings, Readonly<Partial<Record<SettingKey, string>>>>();

/** The source of each setting of a loaded Settings object ("default" for those no layer set). */
export function settingSources(settings: Settings): Readonly<Partial<Record<SettingKey, string>>> {
  return SOURCES.get(settings) ?? {};
}

function show(value: unknown): string {
  if (value === null) return "null (empty)";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * What a layer yields, in the order written: values, and problems (strings) found while reading them, so that
 * messages come out in file order.
 */
type Item = Raw | string;

/** Turns a second value for a setting within one layer (an alias, or caTtl beside ca_ttl) into a problem. */
function dedupe(items: Item[], where: string): Item[] {
  const seen = new Map<SettingKey, Raw>();
  return items.map((item) => {
    if (typeof item === "string") return item;
    const first = seen.get(item.key);
    if (!first) {
      seen.set(item.key, item);
      return item;
    }
    return `${fileName(item.key)}: given twice in ${where} (as ${first.name} and ${item.name})`;
  });
}

function callerDefaults(defaults: Partial<Settings>, cwd: string): Item[] {
  return Object.entries(defaults)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ({ key: key as SettingKey, name: fileName(key as SettingKey), value, source: `caller defaults (${key})`, baseDir: cwd }));
}

function fileLayer(file: string, explicit: string | undefined): Item[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && explicit === undefined) return [];
    const why = code === "ENOENT" ? "does not exist" : `cannot be read (${code ?? String(err)})`;
    return [`config file ${file}${explicit ? ` (given by ${explicit})` : ""} ${why}`];
  }
  const { isMap, isScalar, LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  // YAML 1.1 like Ruby's Psych reads puppet-style files: yes/no/on/off are booleans there too.
  const doc = parseDocument(text, { version: "1.1", lineCounter: lines });
  if (doc.errors.length > 0) {
    return doc.errors.map((e) => `config file ${file} is not valid YAML: ${e.message.split("\n")[0]}`);
  }
  if (doc.contents === null) return []; // empty file, or comments only
  if (!isMap(doc.contents)) {
    return [`config file ${file} must be a mapping of setting names to values (snake_case, e.g. "cadir: /path")`];
  }
  const out: Item[] = [];
  for (const pair of doc.contents.items) {
    const keyNode = pair.key as Node | null;
    const name = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const line = keyNode?.range ? lines.linePos(keyNode.range[0]).line : undefined;
    const source = `config file ${file}${line === undefined ? "" : ` line ${line}`}`;
    const key = BY_NAME.get(name);
    if (key === undefined) {
      out.push(`unknown setting ${JSON.stringify(name)} in ${source}${didYouMean(name, BY_NAME.keys())}`);
      continue;
    }
    const value: unknown = pair.value == null ? null : (pair.value as Node).toJS(doc);
    out.push({ key, name, value, source, baseDir: dirname(file) });
  }
  return dedupe(out, `config file ${file}`);
}

function envLayer(env: NodeJS.ProcessEnv, cwd: string): Item[] {
  const out: Item[] = [];
  for (const [name, key] of BY_NAME) {
    const variable = `FLEETCA_${name.toUpperCase()}`;
    const text = env[variable];
    if (text === undefined || text.trim() === "") continue; // VAR= means unset, as shells and systemd use it
    let value: unknown = text;
    if ((SPECS[key] as SettingSpec<unknown>).structured) {
      const doc = yaml().parseDocument(text, { version: "1.1" });
      if (doc.errors.length > 0) {
        out.push(`${name}: environment variable ${variable} is not valid YAML/JSON: ${doc.errors[0]?.message.split("\n")[0]}`);
        continue;
      }
      value = doc.toJS();
    }
    out.push({ key, name, value, source: `environment variable ${variable}`, baseDir: cwd });
  }
  return dedupe(out, "the environment");
}

function flagLayer(flags: Record<string, unknown>, cwd: string): Item[] {
  const out: Item[] = [];
  for (const [flag, value] of Object.entries(flags)) {
    if (value === undefined || value === null) continue;
    const key = settingKeyOf(flag);
    if (key === undefined) {
      out.push(`unknown setting flag ${JSON.stringify(flag)}${didYouMean(flag, SETTING_KEYS)}`);
      continue;
    }
    const name = toSnake(flag);
    const spelled = name === fileName(key) ? flagName(key) : `--${name.replace(/_/g, "-")}`;
    out.push({ key, name, value, source: `flag ${spelled}`, baseDir: cwd });
  }
  return dedupe(out, "the flags");
}

/** Which file to read, and who asked for it (undefined when it is only the default, which may be absent). */
function chooseFile(opts: LoadOptions, env: NodeJS.ProcessEnv, cwd: string): { file?: string; explicit?: string } {
  if (opts.file === null) return {};
  if (opts.file !== undefined) return { file: resolve(cwd, opts.file), explicit: "the caller" };
  const fromEnv = env[CONFIG_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== "") return { file: resolve(cwd, fromEnv), explicit: CONFIG_ENV };
  return { file: DEFAULT_CONFIG_FILE };
}

/**
 * Load, validate and deep-freeze the settings.
 * @throws ConfigError listing every bad value with its setting, the value, what is expected, and where it came from.
 */
export function loadSettings(opts: LoadOptions = {}): Settings {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const problems: string[] = [];
  const { file, explicit } = chooseFile(opts, env, cwd);

  const values: Partial<Record<SettingKey, unknown>> = { ...FIXED_DEFAULTS };
  const sources: Partial<Record<SettingKey, string>> = {};
  const items: Item[] = [
    ...callerDefaults(opts.defaults ?? {}, cwd),
    ...(file === undefined ? [] : fileLayer(file, explicit)),
    ...envLayer(env, cwd),
    ...flagLayer(opts.flags ?? {}, cwd),
  ];
  // Every value is validated, even one a stronger layer overrides: a bad line in a file is a bug waiting.
  for (const item of items) {
    if (typeof item === "string") {
      problems.push(item);
      continue;
    }
    const spec = SPECS[item.key] as SettingSpec<unknown> | undefined;
    if (spec === undefined) {
      problems.push(`unknown setting ${JSON.stringify(item.name)} in ${item.source}`); // caller defaults from plain JS
      continue;
    }
    const parsed = spec.parse(item.value, { baseDir: item.baseDir });
    if ("expected" in parsed) {
      problems.push(`${item.name}: invalid value ${show(item.value)} from ${item.source}; expected ${parsed.expected}`);
      continue;
    }
    values[item.key] = parsed.value;
    sources[item.key] = item.source;
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const settings = deepFreeze(applyDerived(values));
  for (const key of SETTING_KEYS) {
    const spec = SPECS[key] as SettingSpec<unknown>;
    sources[key] ??= "follows" in spec ? `default, follows ${fileName(spec.follows)}` : "default";
  }
  SOURCES.set(settings, Object.freeze(sources));
  return settings;
}
