/**
 * Query parameters of the JSON API, each checked with a message that says what was wrong
 * and what would be right (CaError "invalid-request", a 400). Unknown parameters are refused
 * too: a misspelt filter must not silently list everything.
 */
import type { FastifyRequest } from "fastify";
import { AUDIT_ACTIONS, type AuditAction } from "../../ca/audit.js";
import { CaError } from "../../ca/errors.js";
import { DEFAULT_PAGE, MAX_PAGE } from "../../ca/queries.js";
import type { CertState } from "../../ca/status.js";
import { DURATION_FORMS, tryParseDuration } from "../../config/duration.js";

const invalid = (message: string) => new CaError("invalid-request", message);

/** The query as single strings, refusing unknown and repeated keys. */
export function queryOf(request: FastifyRequest, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
    if (!allowed.includes(key)) {
      const takes = allowed.length > 0 ? `it takes ${allowed.join(", ")}` : "it takes none";
      throw invalid(`Unknown query parameter ${JSON.stringify(key)} for ${request.routeOptions.url ?? "this endpoint"}; ${takes}.`);
    }
    if (typeof value !== "string") throw invalid(`The query parameter ${key} is given more than once; give it once.`);
    out.set(key, value);
  }
  return out;
}

/** A whole number within [min, max]. */
export function wholeParam(q: Map<string, string>, key: string, dflt: number, min: number, max: number): number {
  const text = q.get(key);
  if (text === undefined) return dflt;
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw invalid(`${key} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}.`);
  return n;
}

export const limitParam = (q: Map<string, string>): number => wholeParam(q, "limit", DEFAULT_PAGE, 1, MAX_PAGE);
export const offsetParam = (q: Map<string, string>): number => wholeParam(q, "offset", 0, 0, Number.MAX_SAFE_INTEGER);

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;
const DATE_FORMS = "an ISO 8601 date or time (2027-01-31, 2027-01-31T12:00:00Z)";

/** An ISO 8601 date (midnight UTC) or date and time (UTC unless it says otherwise). */
export function dateParam(key: string, text: string): Date {
  const zoned = !text.includes("T") || /(?:Z|[+-]\d{2}:\d{2})$/.test(text);
  const ms = ISO_DATE.test(text) ? Date.parse(zoned ? text : `${text}Z`) : NaN;
  if (Number.isNaN(ms)) throw invalid(`${key} must be ${DATE_FORMS}, not ${JSON.stringify(text)}.`);
  return new Date(ms);
}

/** A duration in Puppet's syntax, in seconds. */
export function durationParam(key: string, text: string): number {
  const seconds = tryParseDuration(text);
  if (seconds === undefined || seconds < 0) throw invalid(`${key} must be a duration: ${DURATION_FORMS}; not ${JSON.stringify(text)}.`);
  return seconds;
}

/** `since`: a duration back from now (30d), or a point in time. */
export function sinceParam(text: string, now: Date): Date {
  const seconds = tryParseDuration(text);
  if (seconds !== undefined && seconds >= 0) return new Date(now.getTime() - seconds * 1000);
  if (ISO_DATE.test(text)) return dateParam("since", text);
  throw invalid(`since must be a duration back from now (${DURATION_FORMS}) or ${DATE_FORMS}; not ${JSON.stringify(text)}.`);
}

/** expires_before (a time) or expires_within (a duration from now), not both. */
export function expiryParam(q: Map<string, string>, now: Date): Date | undefined {
  const before = q.get("expires_before");
  const within = q.get("expires_within");
  if (before !== undefined && within !== undefined) throw invalid("Give expires_before or expires_within, not both.");
  if (before !== undefined) return dateParam("expires_before", before);
  if (within !== undefined) return new Date(now.getTime() + durationParam("expires_within", within) * 1000);
  return undefined;
}

/** `state` among the ones an endpoint lists. */
export function stateParam(q: Map<string, string>, allowed: readonly CertState[], elsewhere?: string): CertState | undefined {
  const text = q.get("state");
  if (text === undefined) return undefined;
  if ((allowed as readonly string[]).includes(text)) return text as CertState;
  const hint = elsewhere && ["requested", "signed", "revoked"].includes(text) ? ` (${elsewhere})` : "";
  throw invalid(`state must be one of ${allowed.join(", ")}, not ${JSON.stringify(text)}${hint}.`);
}

export function actionParam(q: Map<string, string>): AuditAction | undefined {
  const text = q.get("action");
  if (text === undefined) return undefined;
  if ((AUDIT_ACTIONS as readonly string[]).includes(text)) return text as AuditAction;
  throw invalid(`action must be one of ${AUDIT_ACTIONS.join(", ")}, not ${JSON.stringify(text)}.`);
}

/** A search string: what a name may contain. */
export function searchParam(q: Map<string, string>): string | undefined {
  const text = q.get("search");
  if (text === undefined || text === "") return undefined;
  if (text.length > 253 || /[^A-Za-z0-9._-]/.test(text)) throw invalid(`search must be part of a certname (letters, digits, '.', '-', '_'), not ${JSON.stringify(text)}.`);
  return text;
}

/** A serial as Puppet and `fleetca ca list` print it: hexadecimal, optionally 0x-prefixed, any case. */
export function serialParam(text: string): bigint {
  const m = /^(?:0x)?([0-9A-Fa-f]{1,40})$/.exec(text);
  if (!m) throw invalid(`A serial is hexadecimal, as \`fleetca ca list\` prints it (e.g. 1F or 0x1f), not ${JSON.stringify(text)}.`);
  return BigInt(`0x${m[1]}`);
}
