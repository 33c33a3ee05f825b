/**
 * fleetca configuration: one schema with defaults (schema.ts), loaded from a YAML file, FLEETCA_* environment
 * variables and flags (load.ts), validated and deep-frozen. Durations use Puppet's syntax (duration.ts).
 */
export { DURATION_SYNTAX, formatDuration, parseDuration, tryParseDuration } from "./duration.js";
export { CONFIG_ENV, ConfigError, DEFAULT_CONFIG_FILE, loadSettings, settingKeyOf, settingSources, type LoadOptions } from "./load.js";
export {
  DEFAULTS,
  envName,
  fileName,
  flagName,
  SETTING_KEYS,
  type AuthAllow,
  type AuthRule,
  type Curve,
  type HttpMethod,
  type KeyType,
  type LogLevel,
  type SettingKey,
  type Settings,
} from "./schema.js";
export { settingsSummary } from "./summary.js";
export { keySpecOf } from "./key-spec.js";
