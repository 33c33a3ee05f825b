/**
 * Pages of an index held in memory (the file and memory stores' queryIndex), answered
 * without a pass that decodes or allocates per entry: at 100,000 certificates a console
 * page of 50 in any order and with any filter costs about a millisecond.
 *
 * A catalog is built once from one snapshot of the index (the store rebuilds it when its
 * index changed): each entry's sort keys are decoded once into typed arrays (the file
 * store's entries decode serial and notAfter from their journal line on every read), and
 * each ordering other than by name is sorted on first use and kept. States depend on the
 * CA's CRL, so they are recomputed when the caller passes another revoked set (the CA hands
 * the same Set object while its CRL is unchanged). A query walks one ordering, checks the
 * filters on the typed arrays, and stops once the page is full when the total is known
 * from the per-state counts (no search or expiry filter).
 */
import type { IndexEntry, IndexPage, IndexQuery, IndexSortKey, ListedState } from "../ca/store.js";

/** State codes in the order states sort (their names' order). */
const STATES: readonly ListedState[] = ["requested", "revoked", "signed"];
const CODE: Record<ListedState, number> = { requested: 0, revoked: 1, signed: 2 };
/** Between names in the search's haystack: no certname holds it. */
const SEP = "\n";

/**
 * The entries a catalog is built over, in name order, read by position: the file store's
 * packed index answers these from its bytes without an object per entry (packed-table.ts).
 */
export interface CatalogRows {
  readonly size: number;
  entry(i: number): IndexEntry;
  name(i: number): string;
  certificate(i: number): boolean;
  /** The serial as a double (exact below 2^53), NaN for none. */
  serialKey(i: number): number;
  serial(i: number): bigint | undefined;
  /** notAfter in ms, NaN for none. */
  notAfterMs(i: number): number;
}

/** CatalogRows over entries already made (the memory store, a query over both kinds). */
export function rowsOfEntries(entries: readonly IndexEntry[]): CatalogRows {
  return {
    size: entries.length,
    entry: (i) => entries[i]!,
    name: (i) => entries[i]!.name,
    certificate: (i) => entries[i]!.state !== "requested",
    serialKey: (i) => {
      const s = entries[i]!.serial;
      return s === undefined ? NaN : Number(s);
    },
    serial: (i) => entries[i]!.serial,
    notAfterMs: (i) => entries[i]!.notAfter?.getTime() ?? NaN,
  };
}

export class IndexCatalog {
  readonly size: number;
  /** notAfter in ms; 0 for none (requests), as the order treats them. */
  private readonly notAfter: Float64Array;
  private readonly hasNotAfter: Uint8Array;
  /** The serial as a double (exact below 2^53; ties are settled on the bigint). */
  private readonly serialKey: Float64Array;
  private readonly hasSerial: Uint8Array;
  /** The exact serials past 2^53 (rare), by position. */
  private readonly bigSerials = new Map<number, bigint>();
  private readonly certificate: Uint8Array;
  private states?: { revoked: ReadonlySet<bigint>; code: Uint8Array; lists: Int32Array[] };
  private readonly orders = new Map<string, Int32Array>();
  /** Every name in one string (SEP between), for the search; and the last search's hits. */
  private haystack?: { text: string; starts: Int32Array };
  private lastSearch?: { search: string; hits: Uint8Array };

  private readonly rows: CatalogRows;

  /** Entries in name order, a request before a certificate of the same name (listIndex's order). */
  constructor(source: readonly IndexEntry[] | CatalogRows) {
    const rows = (this.rows = isEntryArray(source) ? rowsOfEntries(source) : source);
    const n = (this.size = rows.size);
    this.notAfter = new Float64Array(n);
    this.hasNotAfter = new Uint8Array(n);
    this.serialKey = new Float64Array(n);
    this.hasSerial = new Uint8Array(n);
    this.certificate = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (!rows.certificate(i)) continue;
      this.certificate[i] = 1;
      const key = rows.serialKey(i);
      const notAfter = rows.notAfterMs(i);
      if (!Number.isNaN(key)) {
        this.serialKey[i] = key;
        this.hasSerial[i] = 1;
        if (key > Number.MAX_SAFE_INTEGER) this.bigSerials.set(i, rows.serial(i)!);
      }
      if (!Number.isNaN(notAfter)) {
        this.notAfter[i] = notAfter;
        this.hasNotAfter[i] = 1;
      }
    }
  }

  /** The exact serial at position i, or undefined. */
  private serialAt(i: number): bigint | undefined {
    if (!this.hasSerial[i]) return undefined;
    return this.bigSerials.get(i) ?? BigInt(this.serialKey[i]!);
  }

  /** How many entries are in each state. */
  counts(revoked: ReadonlySet<bigint>): Record<ListedState, number> {
    const { lists } = this.statesFor(revoked);
    return { requested: lists[0]!.length, revoked: lists[1]!.length, signed: lists[2]!.length };
  }

  query(q: IndexQuery): IndexPage {
    const { code, lists } = this.statesFor(q.revoked);
    const wanted = new Uint8Array(3);
    for (const s of q.states) wanted[CODE[s]] = 1;
    const search = q.search;
    const hits = search !== undefined ? this.searchHits(search) : undefined;
    const before = q.expiresBefore?.getTime();
    const filtered = search !== undefined || before !== undefined;
    const items: IndexPage["items"] = [];
    const take = (i: number) => items.push({ entry: this.rows.entry(i), state: STATES[code[i]!]! });

    // Without search or expiry filter the total is the states' counts, and a page by name
    // (or by state, whose order is the per-state lists one after the other) is a slice.
    if (!filtered && (q.sort === "name" || q.sort === "state")) {
      const parts = q.sort === "name" && q.states.length > 1 ? undefined : this.stateOrder(lists, wanted, q.sort === "state" && q.descending);
      if (parts) {
        const total = parts.reduce((t, l) => t + l.length, 0);
        // By name descending there is a single list (one state), walked from its end.
        const reverse = q.sort === "name" && q.descending;
        let at = 0;
        for (const list of parts) {
          const len = list.length;
          for (let k = Math.max(0, q.offset - at); k < len && items.length < q.limit; k++) take(list[reverse ? len - 1 - k : k]!);
          at += len;
          if (items.length >= q.limit) break;
        }
        return { total, items };
      }
    }

    const order = this.order(q.sort, q.descending, lists);
    const n = this.size;
    const known = filtered ? undefined : STATES.reduce((t, s, c) => t + (wanted[c] ? lists[c]!.length : 0), 0);
    let total = 0;
    for (let k = 0; k < n; k++) {
      const i = order ? order[k]! : q.descending ? n - 1 - k : k;
      if (!wanted[code[i]!]) continue;
      if (hits && !hits[i]) continue;
      if (before !== undefined && !(this.hasNotAfter[i] && this.notAfter[i]! < before)) continue;
      if (total >= q.offset && items.length < q.limit) take(i);
      total++;
      if (known !== undefined && items.length >= q.limit) return { total: known, items };
    }
    return { total, items };
  }

  /**
   * Which entries' names contain `search`: indexOf over one string of every name finds the
   * matches in about a millisecond at 100,000 names, where includes() on each name took
   * several (and allocates nothing either way).
   */
  private searchHits(search: string): Uint8Array {
    if (this.lastSearch?.search === search) return this.lastSearch.hits;
    const hits = new Uint8Array(this.size);
    if (search.includes(SEP)) {
      for (let i = 0; i < this.size; i++) if (this.rows.name(i).includes(search)) hits[i] = 1;
    } else {
      if (!this.haystack) {
        const starts = new Int32Array(this.size);
        const names = new Array<string>(this.size);
        let at = 0;
        for (let i = 0; i < this.size; i++) {
          names[i] = this.rows.name(i);
          starts[i] = at;
          at += names[i]!.length + 1;
        }
        this.haystack = { text: names.join(SEP), starts };
      }
      const { text, starts } = this.haystack;
      for (let at = text.indexOf(search); at >= 0; ) {
        const i = entryAt(starts, at);
        hits[i] = 1;
        // Each name counts once: go on from the next name.
        at = i + 1 < this.size ? text.indexOf(search, starts[i + 1]) : -1;
      }
    }
    this.lastSearch = { search, hits };
    return hits;
  }

  /** The wanted states' lists (each in name order), in state order or its reverse. */
  private stateOrder(lists: Int32Array[], wanted: Uint8Array, descending: boolean): Int32Array[] {
    const parts = [0, 1, 2].filter((c) => wanted[c]).map((c) => lists[c]!);
    return descending ? parts.reverse() : parts;
  }

  private statesFor(revoked: ReadonlySet<bigint>): { code: Uint8Array; lists: Int32Array[] } {
    if (this.states?.revoked === revoked) return this.states;
    const n = this.size;
    const code = new Uint8Array(n);
    const counts = [0, 0, 0];
    // Revoked serials as doubles where exact: the usual serial is checked without a bigint.
    const keys = new Set<number>();
    for (const s of revoked) if (s <= BigInt(Number.MAX_SAFE_INTEGER)) keys.add(Number(s));
    for (let i = 0; i < n; i++) {
      let c = 0;
      if (this.certificate[i]) {
        const big = revoked.size > 0 && this.hasSerial[i] ? this.bigSerials.get(i) : undefined;
        const isRevoked = revoked.size > 0 && this.hasSerial[i] === 1 && (big !== undefined ? revoked.has(big) : keys.has(this.serialKey[i]!));
        c = isRevoked ? 1 : 2;
      }
      code[i] = c;
      counts[c]!++;
    }
    const lists = counts.map((c) => new Int32Array(c));
    const fill = [0, 0, 0];
    for (let i = 0; i < n; i++) lists[code[i]!]![fill[code[i]!]!++] = i;
    // The state order depends on the states; the others do not.
    this.orders.delete("state:false");
    this.orders.delete("state:true");
    this.states = { revoked, code, lists };
    return this.states;
  }

  /** Entry positions in the order asked; undefined for name order (positions themselves). */
  private order(sort: IndexSortKey, descending: boolean, lists: Int32Array[]): Int32Array | undefined {
    if (sort === "name") return undefined;
    const key = `${sort}:${descending}`;
    let order = this.orders.get(key);
    if (order) return order;
    if (sort === "state") {
      order = new Int32Array(this.size);
      let at = 0;
      for (const list of descending ? [...lists].reverse() : lists) {
        order.set(list, at);
        at += list.length;
      }
    } else {
      const primary = sort === "notAfter" ? this.notAfter : this.serialKey;
      const sign = descending ? -1 : 1;
      order = Int32Array.from({ length: this.size }, (_, i) => i);
      // Ties (equal keys) in name order whichever the direction: a position is its name order.
      order.sort((a, b) => {
        const d = primary[a]! - primary[b]!;
        if (d !== 0) return sign * d;
        if (sort === "serial" && this.bigSerials.size > 0) {
          const x = this.serialAt(a) ?? 0n;
          const y = this.serialAt(b) ?? 0n;
          if (x !== y) return sign * (x < y ? -1 : 1);
        }
        return a - b;
      });
    }
    this.orders.set(key, order);
    return order;
  }
}

/** The position of the name holding character `at` of the haystack: the last start at or before it. */
function entryAt(starts: Int32Array, at: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export type EntryKind = "request" | "certificate";

/** An index that says when each kind's entries changed (the file store's IndexCache). */
export interface CatalogSource {
  /** A number that changes whenever `kind`'s entries change. */
  changeCount(kind: EntryKind): number;
  /** The kind's entries, in any order. */
  entriesOf(kind: EntryKind): IndexEntry[];
  /** The kind's entries in name order, read by position (a packed index): used instead of entriesOf when present. */
  sortedRows?(kind: EntryKind): { readonly size: number; entry(i: number): IndexEntry; name(i: number): string; serialKey(i: number): number; serial(i: number): bigint | undefined; notAfterMs(i: number): number };
}

/**
 * Catalogs kept per kind, so a request arriving (the usual change on a busy CA) rebuilds
 * only the requests' catalog, not the 100,000 certificates'. A query over both kinds (no
 * console page asks one) gets a catalog of its own.
 */
export class CatalogCache {
  private readonly built = new Map<string, { stamp: string; catalog: IndexCatalog }>();

  constructor(private readonly source: CatalogSource) {}

  query(q: IndexQuery): IndexPage {
    return this.catalogOf(kindsOf(q.states)).query(q);
  }

  counts(revoked: ReadonlySet<bigint>): Record<ListedState, number> {
    const { requested } = this.catalogOf(["request"]).counts(revoked);
    return { ...this.catalogOf(["certificate"]).counts(revoked), requested };
  }

  private catalogOf(kinds: EntryKind[]): IndexCatalog {
    const key = kinds.join("+");
    const stamp = kinds.map((k) => this.source.changeCount(k)).join(":");
    const known = this.built.get(key);
    if (known?.stamp === stamp) return known.catalog;
    // Dropped before the new one is built: two catalogs of a million entries at once is RSS for nothing.
    this.built.delete(key);
    if (kinds.length === 1 && this.source.sortedRows) {
      const rows = this.source.sortedRows(kinds[0]!);
      const certificate = kinds[0] === "certificate";
      const catalog = new IndexCatalog({
        size: rows.size,
        entry: (i) => rows.entry(i),
        name: (i) => rows.name(i),
        certificate: () => certificate,
        serialKey: (i) => rows.serialKey(i),
        serial: (i) => rows.serial(i),
        notAfterMs: (i) => rows.notAfterMs(i),
      });
      this.built.set(key, { stamp, catalog });
      return catalog;
    }
    const entries = kinds.flatMap((k) => this.source.entriesOf(k));
    // Code-unit order, a request before a certificate of the same name: listIndex's order.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.state === b.state ? 0 : a.state === "requested" ? -1 : 1));
    const catalog = new IndexCatalog(rowsOfEntries(entries));
    this.built.set(key, { stamp, catalog });
    return catalog;
  }
}

function isEntryArray(x: readonly IndexEntry[] | CatalogRows): x is readonly IndexEntry[] {
  return Array.isArray(x);
}

function kindsOf(states: readonly ListedState[]): EntryKind[] {
  const kinds: EntryKind[] = [];
  if (states.includes("requested")) kinds.push("request");
  if (states.includes("signed") || states.includes("revoked")) kinds.push("certificate");
  return kinds.length > 0 ? kinds : ["request", "certificate"];
}
