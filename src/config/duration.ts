/**
 * Puppet's duration syntax, shared by settings (`ca_ttl`, `waitforcert`...), the CLI (`sign --ttl 2d`) and the
 * API (`cert_ttl`).
 *
 * Puppet (lib/puppet/settings/duration_setting.rb) accepts a non-negative integer of seconds, or an integer followed
 * by exactly one unit letter: `y` (365 days, no leap years), `d`, `h`, `m`, `s`. No spaces inside, no fractions, no
 * combinations such as "1d12h", lower-case units only. We accept the same and nothing more, so that a file that
 * works here also means the same thing to Puppet.
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = {
  y: 365 * 24 * 60 * 60,
  d: 24 * 60 * 60,
  h: 60 * 60,
  m: 60,
  s: 1,
};

const DURATION_RE = /^(\d+)([ydhms])?$/;

/** The accepted spellings, for error messages. */
export const DURATION_FORMS = 'whole seconds, or a whole number followed by y, d, h, m or s (e.g. 3600, "5y", "30d", "12h")';

/** What a valid duration looks like, for error messages. */
export const DURATION_SYNTAX = `a duration: ${DURATION_FORMS}`;

/**
 * Seconds for a Puppet duration, or undefined when `value` is not one.
 * Numbers must be non-negative safe integers; strings are trimmed first.
 */
export function tryParseDuration(value: unknown): number | undefined {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== "string") return undefined;
  const match = DURATION_RE.exec(value.trim());
  if (!match) return undefined;
  const count = Number(match[1]);
  const seconds = count * (UNIT_SECONDS[match[2] ?? "s"] ?? 1);
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/**
 * Seconds for a Puppet duration (`3600`, `"3600"`, `"5y"`, `"30d"`, `"12h"`, `"15m"`, `"60s"`).
 * @throws RangeError naming the bad value and the accepted syntax.
 */
export function parseDuration(value: string | number): number {
  const seconds = tryParseDuration(value);
  if (seconds === undefined) {
    throw new RangeError(`invalid duration ${JSON.stringify(value)}: expected ${DURATION_SYNTAX}`);
  }
  return seconds;
}

/** The shortest exact Puppet spelling of `seconds` ("5y", "30d", "90s"); the inverse of parseDuration. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  for (const unit of ["y", "d", "h", "m"] as const) {
    const size = UNIT_SECONDS[unit] ?? 1;
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
