/**
 * The journal's line format since fleetca wrote tab-separated lines (journal.ts reads the
 * JSON lines of earlier versions too). Each line starts with RS (U+001E) and a one-letter tag:
 *
 *   RS P kind name sha256 serialHex notBeforeMs notAfterMs size mtimeMs dir inv altNames auth
 *   RS D kind name dir
 *   RS M kind mtimeNs settled(1|0)
 *   RS I size
 *
 * kind is "r" or "c"; an empty field is an absent value. altNames is "" for none, "=" for
 * the lone "DNS:<name>" Puppet puts in every certificate, else a JSON array; auth is "" or
 * a JSON object. A record with a control character in a name (a foreign file, say) is
 * written as a JSON line instead, so RS and tabs never occur inside a field: a line torn
 * by a crash, with the next writer's line glued after it, is salvaged from its last RS.
 *
 * Why not JSON: loading 100,000 JSON lines was most of `fleetca ca list --all`, and most
 * of that was the garbage collector copying what every line left alive (a parsed object,
 * its strings, a BigInt, two Dates, an array) from one young generation to the next.
 * The index does not even decode the usual put line: it keeps the line's bytes
 * (packed-table.ts). A line decoded here (an unusual one, or a caller of decodeLine) leaves
 * alive the line, its name, and two small objects: the entry decodes its other fields from
 * the line when they are read (LineEntry).
 *
 * An older fleetca skips these lines; it then knows no directory mtime, so it rescans
 * the PEM files (slow, but it lists the right thing) and appends JSON lines, which this
 * version reads.
 */
import type { IndexEntry } from "../../ca/store.js";
import type { IndexRecord, JournalRecord } from "./journal.js";
import type { Kind } from "./layout.js";

export const RS = "\u001e";
const KIND_TAG: Record<Kind, string> = { request: "r", certificate: "c" };

export const NO_NAMES = Object.freeze([]) as unknown as string[];
export const NO_EXTENSIONS: Record<string, string> = Object.freeze({});

export function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function parseObject(text: string): Record<string, unknown> | undefined {
  const o = parseJson(text);
  return typeof o === "object" && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
}

function hasControl(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f]/.test(s);
}

/** The record as a tab-separated line (without the newline), or undefined if it must be written as JSON. */
export function encodeTsv(r: JournalRecord): string | undefined {
  switch (r.op) {
    case "put": {
      const e = r.rec.entry;
      if (hasControl(e.name) || hasControl(e.sha256)) return undefined;
      const alt = e.altNames;
      const altText = alt.length === 0 ? "" : alt.length === 1 && alt[0] === `DNS:${e.name}` ? "=" : JSON.stringify(alt);
      return [
        `${RS}P`, KIND_TAG[r.kind], e.name, e.sha256,
        e.serial === undefined ? "" : e.serial.toString(16).toUpperCase(),
        e.notBefore === undefined ? "" : String(e.notBefore.getTime()),
        e.notAfter === undefined ? "" : String(e.notAfter.getTime()),
        String(r.rec.size), String(r.rec.mtimeMs), r.dir ?? "", r.inv === undefined ? "" : String(r.inv),
        altText, isEmpty(e.authExtensions) ? "" : JSON.stringify(e.authExtensions),
      ].join("\t");
    }
    case "del":
      return hasControl(r.name) ? undefined : [`${RS}D`, KIND_TAG[r.kind], r.name, r.dir ?? ""].join("\t");
    case "dir":
      return [`${RS}M`, KIND_TAG[r.kind], r.mtimeNs, r.settled ? "1" : "0"].join("\t");
    case "inv":
      return `${RS}I\t${r.size}`;
  }
}

/** Field positions of a put line, counted from the kind (field 0). */
const F = { kind: 0, name: 1, sha256: 2, serial: 3, notBefore: 4, notAfter: 5, size: 6, mtimeMs: 7, dir: 8, inv: 9, altNames: 10, auth: 11 } as const;
const PUT_FIELDS = 12;

/** Where each tab-separated field of `line` from `start` begins (plus one past the end), or undefined past `max` fields. */
function fieldStarts(line: string, start: number, max: number): number[] | undefined {
  const starts = [start];
  for (let tab = line.indexOf("\t", start); tab >= 0; tab = line.indexOf("\t", tab + 1)) {
    if (starts.length === max) return undefined;
    starts.push(tab + 1);
  }
  starts.push(line.length + 1);
  return starts;
}

/** A decimal field: a finite number, or undefined for an empty or malformed one. */
function num(text: string): number | undefined {
  if (text === "") return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function kindOf(tag: string): Kind | undefined {
  return tag === "r" ? "request" : tag === "c" ? "certificate" : undefined;
}

/** Decodes the tab-separated record starting at `start` (an RS) in `line`; undefined if malformed. */
export function decodeTsv(line: string, start: number): JournalRecord | undefined {
  // RS, the tag, a tab, then the fields.
  if (line[start + 2] !== "\t") return undefined;
  const tag = line[start + 1];
  const at = fieldStarts(line, start + 3, tag === "P" ? PUT_FIELDS : 3);
  if (!at) return undefined;
  const count = at.length - 1;
  const field = (i: number): string => line.slice(at[i]!, at[i + 1]! - 1);
  if (tag === "I") {
    const size = count === 1 ? num(field(0)) : undefined;
    return size === undefined ? undefined : { op: "inv", size };
  }
  const kind = kindOf(field(0));
  if (!kind) return undefined;
  switch (tag) {
    case "D":
      return count === 3 && field(1) !== "" ? { op: "del", kind, name: field(1), dir: field(2) || undefined } : undefined;
    case "M":
      return count === 3 && /^\d+$/.test(field(1)) ? { op: "dir", kind, mtimeNs: field(1), settled: field(2) === "1" } : undefined;
    case "P":
      return count === PUT_FIELDS ? decodePut(line, at[F.sha256]!, kind, field) : undefined;
  }
  return undefined;
}

function decodePut(line: string, shaStart: number, kind: Kind, field: (i: number) => string): JournalRecord | undefined {
  const name = field(F.name);
  const size = num(field(F.size));
  const mtimeMs = num(field(F.mtimeMs));
  const serial = field(F.serial);
  const notBefore = field(F.notBefore);
  const notAfter = field(F.notAfter);
  if (name === "" || field(F.sha256) === "" || size === undefined || mtimeMs === undefined) return undefined;
  if (serial !== "" && !/^[0-9A-F]+$/.test(serial)) return undefined;
  if ((notBefore !== "" && num(notBefore) === undefined) || (notAfter !== "" && num(notAfter) === undefined)) return undefined;
  const altText = field(F.altNames);
  const authText = field(F.auth);
  const dir = field(F.dir) || undefined;
  const inv = num(field(F.inv));
  const state = kind === "request" ? "requested" : "signed";
  if ((altText === "" || altText === "=") && authText === "") {
    // The usual line: decoded lazily (the line is checked whole here, so the getters cannot fail).
    const entry = new LineEntry(name, state, line.slice(shaStart), altText === "=");
    Object.freeze(entry);
    return { op: "put", kind, rec: new LineRecord(entry, size), dir, inv };
  }
  // Unusual alt names or authorization extensions (rare): decoded now, as a plain entry.
  let altNames = NO_NAMES;
  if (altText === "=") altNames = Object.freeze([`DNS:${name}`]) as string[];
  else if (altText !== "") {
    const a = parseJson(altText);
    if (!Array.isArray(a) || !a.every((x) => typeof x === "string")) return undefined;
    if (a.length > 0) altNames = Object.freeze(a) as string[];
  }
  let authExtensions = NO_EXTENSIONS;
  if (authText !== "") {
    const x = parseObject(authText);
    if (!x || !Object.values(x).every((v) => typeof v === "string")) return undefined;
    if (!isEmpty(x)) authExtensions = Object.freeze(x) as Record<string, string>;
  }
  const entry: IndexEntry = { name, state, sha256: field(F.sha256), altNames, authExtensions };
  if (serial !== "") entry.serial = BigInt(`0x${serial}`);
  if (notBefore !== "") entry.notBefore = new Date(Number(notBefore));
  if (notAfter !== "") entry.notAfter = new Date(Number(notAfter));
  return { op: "put", kind, rec: { entry: Object.freeze(entry), size, mtimeMs }, dir, inv };
}

/**
 * An IndexEntry over its journal line: name and state are kept, the other fields are
 * decoded on each read (a fresh Date or array each time, as a copy would be). `rest` is
 * the line from the sha256 field on, checked by decodePut. Has no plain-object copy of its
 * fields, so compare entries by their fields, not with a deep-equal of the object.
 */
class LineEntry implements IndexEntry {
  readonly #rest: string;
  readonly #ownDnsName: boolean;

  constructor(
    readonly name: string,
    readonly state: "requested" | "signed",
    rest: string,
    ownDnsName: boolean,
  ) {
    this.#rest = rest;
    this.#ownDnsName = ownDnsName;
  }

  /** Field `i` of the put line (F numbering), found by skipping tabs from the sha256 field. */
  field(i: number): string {
    let from = 0;
    for (let k = F.sha256; k < i; k++) from = this.#rest.indexOf("\t", from) + 1;
    const end = this.#rest.indexOf("\t", from);
    return this.#rest.slice(from, end < 0 ? undefined : end);
  }

  get sha256(): string {
    return this.#rest.slice(0, this.#rest.indexOf("\t"));
  }

  get altNames(): string[] {
    return this.#ownDnsName ? (Object.freeze([`DNS:${this.name}`]) as string[]) : NO_NAMES;
  }

  get authExtensions(): Record<string, string> {
    return NO_EXTENSIONS;
  }

  get serial(): bigint | undefined {
    const hex = this.field(F.serial);
    if (hex === "") return undefined;
    // Up to 13 hex digits fit a double exactly: no "0x" string to build for the usual serial.
    return hex.length <= 13 ? BigInt(parseInt(hex, 16)) : BigInt(`0x${hex}`);
  }

  get notBefore(): Date | undefined {
    const ms = this.field(F.notBefore);
    return ms === "" ? undefined : new Date(Number(ms));
  }

  get notAfter(): Date | undefined {
    const ms = this.field(F.notAfter);
    return ms === "" ? undefined : new Date(Number(ms));
  }
}

/** The IndexRecord of a LineEntry: mtimeMs (a boxed double if stored) is decoded when a rescan asks. */
class LineRecord implements IndexRecord {
  constructor(
    readonly entry: LineEntry,
    readonly size: number,
  ) {}

  get mtimeMs(): number {
    return Number(this.entry.field(F.mtimeMs));
  }
}
