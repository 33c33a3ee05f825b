/** Request bodies of the JSON API's actions: checked fields, with messages that show the right shape. */
import { CaError } from "../../ca/errors.js";

const invalid = (message: string) => new CaError("invalid-request", message);

export type Body = Record<string, unknown>;

/** A JSON object with only the given keys. */
export function objectBody(raw: unknown, keys: readonly string[], shape: string): Body {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(`The body must be a JSON object: ${shape}`);
  const b = raw as Body;
  const unknown = Object.keys(b).filter((k) => !keys.includes(k));
  if (unknown.length > 0) throw invalid(`Unknown field ${JSON.stringify(unknown[0])}: ${shape}`);
  return b;
}

export function stringField(b: Body, key: string, shape: string, optional = false): string | undefined {
  const v = b[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== "string") throw invalid(`"${key}" must be a string: ${shape}`);
  return v;
}

/** A non-empty list of distinct strings, at most `max`. */
export function namesField(b: Body, key: string, shape: string, max = 1000, optional = false): string[] {
  const v = b[key];
  if (v === undefined && optional) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw invalid(`"${key}" must be a list of names: ${shape}`);
  if (!optional && v.length === 0) throw invalid(`"${key}" is empty: name at least one. ${shape}`);
  if (v.length > max) throw invalid(`"${key}" names ${v.length}; at most ${max} at once.`);
  return [...new Set(v as string[])];
}
