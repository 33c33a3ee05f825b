/** A readable dump of loaded settings, for `--debug` style output. It is valid YAML a config file could reuse. */
import { formatDuration } from "./duration.js";
import { settingSources } from "./load.js";
import { fileName, SETTING_KEYS, type SettingKey, type Settings } from "./schema.js";

const DURATIONS: ReadonlySet<SettingKey> = new Set<SettingKey>([
  "caTtl",
  "crlTtl",
  "autosignTimeout",
  "waitforcert",
  "maxwaitforcert",
  "hostcertRenewalInterval",
  "caRefreshInterval",
  "crlRefreshInterval",
  "ocspTtl",
  "ocspSignerTtl",
  "handshakeTimeout",
  "idleTimeout",
  "keepAliveTimeout",
  "headersTimeout",
  "requestTimeout",
]);

/** Hide a password in a postgres URL; settings hold no other secret. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * One line per setting, `name: value  # where it came from`, in schema order. Durations are shown in seconds
 * with their Puppet spelling in the comment; a password in the store URL is masked.
 */
export function settingsSummary(settings: Settings): string {
  const sources = settingSources(settings);
  return SETTING_KEYS.map((key) => {
    let value: unknown = settings[key];
    const notes: string[] = [];
    if (key === "store" && typeof value === "string") value = redact(value);
    if (key === "maxwaitforcert" && value === 0) notes.push("unlimited");
    else if (DURATIONS.has(key) && typeof value === "number") notes.push(formatDuration(value));
    const source = sources[key];
    if (source !== undefined) notes.push(source);
    const line = `${fileName(key)}: ${JSON.stringify(value)}`;
    return notes.length > 0 ? `${line}  # ${notes.join("; ")}` : line;
  }).join("\n");
}
