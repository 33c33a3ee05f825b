/**
 * docs/settings.md, rendered from the schema (src/config/schema.ts: each setting's doc comment, parser and
 * default) and from the command tree (which commands take each setting as a flag). `npm run docs:settings` writes
 * it; test/operator-help-docs.test.ts fails when the file and this rendering differ.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { formatDuration } from "../config/duration.js";
import { CONFIG_ENV, DEFAULT_CONFIG_FILE } from "../config/load.js";
import { envName, fileName, flagName, SETTING_KEYS, SPECS, type SettingKey, type SettingSpec } from "../config/schema.js";
import { bufferIo } from "./io.js";
import { buildProgram } from "./main.js";

/**
 * Puppet's name for the setting where Puppet has one (puppet.conf, or puppetserver's ca.conf / webserver.conf
 * where it says so). A setting missing here is fleetca's own.
 */
const PUPPET_NAMES: Partial<Record<SettingKey, string>> = {
  cadir: "cadir",
  caName: "ca_name",
  certname: "certname",
  dnsAltNames: "dns_alt_names",
  caTtl: "ca_ttl",
  keylength: "keylength",
  keyType: "key_type",
  curve: "named_curve",
  autosign: "autosign",
  allowSubjectAltNames: "allow-subject-alt-names (ca.conf)",
  allowAuthorizationExtensions: "allow-authorization-extensions (ca.conf)",
  allowDuplicateCerts: "allow_duplicate_certs",
  bind: "ssl-host (webserver.conf)",
  port: "serverport; ssl-port (webserver.conf)",
  logLevel: "log_level",
  ssldir: "ssldir",
  server: "server",
  caServer: "ca_server",
  caPort: "ca_port",
  waitforcert: "waitforcert",
  maxwaitforcert: "maxwaitforcert",
  hostcertRenewalInterval: "hostcert_renewal_interval",
  caRefreshInterval: "ca_refresh_interval",
  crlRefreshInterval: "crl_refresh_interval",
  csrAttributes: "csr_attributes",
};

/** Defaults that depend on the machine: written in words so the file is the same everywhere. */
const DEFAULT_WORDS: Partial<Record<SettingKey, string>> = { certname: "the host name, lower-cased" };

/** The doc comment above each `readonly key:` of the Settings interface, joined into one line. */
export function settingComments(schemaSource: string): Map<string, string> {
  const out = new Map<string, string>();
  const iface = schemaSource.slice(schemaSource.indexOf("export interface Settings"));
  const body = iface.slice(0, iface.indexOf("\n}\n"));
  const re = /(?:\/\*\*([\s\S]*?)\*\/\s*)?readonly (\w+)\s*:/g;
  for (const m of body.matchAll(re)) {
    const text = (m[1] ?? "").split("\n").map((l) => l.replace(/^\s*\*\s?/, "").trim()).filter(Boolean).join(" ");
    out.set(m[2]!, text);
  }
  return out;
}

/** Every long option of every command, by the command's full name ("ca sign", "server"). */
function flagsByCommand(program: Command): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (cmd: Command, prefix: string) => {
    for (const sub of cmd.commands) {
      const name = `${prefix}${sub.name()}`;
      for (const o of sub.options) {
        if (!o.long) continue;
        out.set(o.long, [...(out.get(o.long) ?? []), name]);
      }
      walk(sub, `${name} `);
    }
  };
  walk(program, "");
  return out;
}

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function defaultText(key: SettingKey, spec: SettingSpec<unknown>, isDuration: boolean): string {
  if (DEFAULT_WORDS[key]) return DEFAULT_WORDS[key]!;
  if ("follows" in spec) return `follows \`${fileName(spec.follows)}\``;
  const d = spec.default;
  if (isDuration && typeof d === "number") return `\`${formatDuration(d)}\``;
  if (Array.isArray(d) && d.length === 0) return "none";
  if (d === "") return `"" (none)`;
  return `\`${typeof d === "string" ? d : JSON.stringify(d)}\``;
}

/** The whole Markdown page. */
export function renderSettingsDoc(schemaSource: string): string {
  const comments = settingComments(schemaSource);
  const flags = flagsByCommand(buildProgram(bufferIo(), () => undefined));
  const lines = [
    "# Settings",
    "",
    "<!-- Generated from src/config/schema.ts by `npm run docs:settings`; do not edit by hand. -->",
    "",
    `Every setting can be written in the config file (YAML, the names below; \`${DEFAULT_CONFIG_FILE}\`, or the file`,
    `named by \`${CONFIG_ENV}\` or \`--config FILE\`), as an environment variable, and, where a command takes it, as a`,
    "flag. Later wins: built-in default < config file < environment < flag. Paths in the file are relative to the",
    "file; durations take Puppet's syntax (`30`, `90s`, `15m`, `12h`, `30d`, `5y`).",
    "",
    "| setting | Puppet's name | type | default | environment | flag (commands) | what it does |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const key of SETTING_KEYS) {
    const spec = SPECS[key] as SettingSpec<unknown>;
    const parsed = spec.parse({}, { baseDir: "/" });
    const type = "expected" in parsed ? parsed.expected : "";
    const isDuration = /^a duration/.test(type);
    const aliases = spec.aliases?.length ? ` (also ${spec.aliases.map((a) => `\`${a}\``).join(", ")})` : "";
    const flag = flagName(key);
    const commands = flags.get(flag);
    lines.push(
      `| \`${fileName(key)}\`${aliases} | ${PUPPET_NAMES[key] ? `\`${PUPPET_NAMES[key]}\`` : "(fleetca's own)"} | ${cell(type)} | ${cell(defaultText(key, spec, isDuration))} | \`${envName(key)}\` | ${commands ? `\`${flag}\` (${commands.join(", ")})` : "config file and environment only"} | ${cell(comments.get(key) ?? "")} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The schema's source text, beside this module in src/ (or found from dist/ through the repository). */
export function schemaSource(): string {
  return readFileSync(new URL("../../src/config/schema.ts", import.meta.url), "utf8");
}
