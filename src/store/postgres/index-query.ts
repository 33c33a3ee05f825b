/**
 * queryIndex and countIndex in SQL: a page is one count and one ORDER BY ... LIMIT/OFFSET
 * that the console's indexes (migrations.ts: name COLLATE "C", not_after, serial)
 * serve, so no query reads every row of a large CA to return 50. The revoked serials come
 * from the CA (its CRL) as one array parameter; `serial = ANY($n)` on an array given as a
 * value is a hashed lookup in PostgreSQL 14 and later.
 *
 * An order by state is a concatenation (requested, revoked, signed, each by name): it is
 * answered as one page query per state, from the per-state counts, so that no query sorts
 * every row by an expression.
 */
import type { Pool } from "pg";
import type { IndexPage, IndexQuery, ListedState, Summarize } from "../../ca/store.js";
import { SCHEMA } from "./migrations.js";
import { toEntries, type IndexRow } from "./rows.js";

const STATE_ORDER: readonly ListedState[] = ["requested", "revoked", "signed"];

/** The columns of rows.ts's IndexRow; the PEM only for a row another tool inserted bare. */
const REQUEST_COLUMNS = `'request' AS kind, name, sha256, alt_names, auth_extensions, NULL::numeric AS serial,
  NULL::timestamptz AS not_before, NULL::timestamptz AS not_after, CASE WHEN sha256 IS NULL THEN pem END AS pem`;
const CERT_COLUMNS = `'certificate' AS kind, name, sha256, alt_names, auth_extensions, serial, not_before, not_after,
  CASE WHEN sha256 IS NULL OR serial IS NULL OR not_before IS NULL OR not_after IS NULL THEN pem END AS pem`;

interface Sql {
  text: string;
  values: unknown[];
}

/**
 * The rows one query reads: the requests, the certificates in one state, or all of them
 * ("certificates": signed and revoked wanted together need no state test, so the page is a
 * plain index scan; the state is told from the revoked set afterwards).
 */
type Group = ListedState | "certificates";

/** The WHERE clause of one group's rows with the query's filters; values from $1 on. */
function where(state: Group, q: IndexQuery, revoked: string[]): Sql {
  const values: unknown[] = [];
  const parts: string[] = [];
  if ((state === "revoked" || state === "signed") && revoked.length > 0) {
    values.push(revoked);
    // `= ANY` is hashed; the signed rows' NOT only runs on the rows a page walks (counts use revoked's).
    parts.push(state === "revoked" ? `serial = ANY($${values.length}::numeric[])` : `(serial IS NULL OR NOT (serial = ANY($${values.length}::numeric[])))`);
  } else if (state === "revoked") parts.push("false");
  if (q.search !== undefined) {
    values.push(q.search);
    parts.push(`strpos(name, $${values.length}) > 0`);
  }
  if (q.expiresBefore !== undefined) {
    // Requests have no notAfter: none is before anything.
    if (state === "requested") parts.push("false");
    else {
      values.push(q.expiresBefore);
      parts.push(`not_after < $${values.length}`);
    }
  }
  return { text: parts.length > 0 ? `WHERE ${parts.join(" AND ")}` : "", values };
}

const tableOf = (state: Group) => (state === "requested" ? `${SCHEMA}.requests` : `${SCHEMA}.certificates`);
const columnsOf = (state: Group) => (state === "requested" ? REQUEST_COLUMNS : CERT_COLUMNS);

async function countOf(pool: Pool, state: Group, q: IndexQuery, revoked: string[]): Promise<number> {
  const w = where(state, q, revoked);
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${tableOf(state)} ${w.text}`, w.values);
  return Number(rows[0]?.n ?? 0);
}

/**
 * One page of the query's states ordered by `sort` (ties by name). Requests have neither
 * notAfter nor serial (both sort as 0, so before every certificate ascending).
 */
function pageSql(states: readonly Group[], q: IndexQuery, revoked: string[], offset: number, limit: number): Sql {
  const values: unknown[] = [];
  const selects = states.map((state) => {
    const w = where(state, q, revoked);
    const text = w.text.replace(/\$(\d+)/g, (_, i: string) => `$${Number(i) + values.length}`);
    values.push(...w.values);
    return `SELECT ${columnsOf(state)} FROM ${tableOf(state)} ${text}`;
  });
  const dir = q.descending ? "DESC" : "ASC";
  // The name order's tie between a request and a certificate of one name: the request first.
  const tie = `name COLLATE "C" ${q.sort === "name" ? dir : "ASC"}, kind ${q.sort === "name" && q.descending ? "ASC" : "DESC"}`;
  // No value sorts as 0: first ascending, last descending (as the console's indexes keep them).
  const nulls = q.descending ? "NULLS LAST" : "NULLS FIRST";
  const key =
    q.sort === "notAfter" ? `not_after ${dir} ${nulls}, ` :
    q.sort === "serial" ? `serial ${dir} ${nulls}, ` : "";
  values.push(limit, offset);
  const from = selects.length === 1 ? `(${selects[0]})` : `(${selects.join(" UNION ALL ")})`;
  return { text: `SELECT * FROM ${from} AS e ORDER BY ${key}${tie} LIMIT $${values.length - 1} OFFSET $${values.length}`, values };
}

async function rowsOf(pool: Pool, sql: Sql, summarize: Summarize): Promise<IndexPage["items"]> {
  const { rows } = await pool.query<IndexRow>(sql.text, sql.values);
  return (await toEntries(pool, rows, summarize)).map((entry) => ({ entry, state: entry.state }));
}

export async function queryIndexSql(pool: Pool, q: IndexQuery, summarize: Summarize): Promise<IndexPage> {
  const revoked = [...q.revoked].map(String);
  const states = STATE_ORDER.filter((s) => q.states.includes(s));
  // Counted per state; the signed ones as all certificates less the revoked (a NOT over every row is not hashed).
  const wantsCerts = states.some((s) => s !== "requested");
  const [requested, all, revokedCount] = await Promise.all([
    states.includes("requested") ? countOf(pool, "requested", q, revoked) : 0,
    states.includes("signed") ? countOf(pool, "certificates", q, revoked) : 0,
    wantsCerts ? countOf(pool, "revoked", q, revoked) : 0,
  ]);
  const countOfState: Record<ListedState, number> = { requested, revoked: revokedCount, signed: all - revokedCount };
  const counts = states.map((s) => countOfState[s]);
  const total = counts.reduce((t, n) => t + n, 0);
  const stateOf = (entry: IndexPage["items"][number]["entry"]): ListedState =>
    entry.state === "requested" ? "requested" : entry.serial !== undefined && q.revoked.has(entry.serial) ? "revoked" : "signed";
  if (q.sort !== "state") {
    const groups: Group[] = states.includes("signed") && states.includes("revoked") ? [...states.filter((s) => s === "requested"), "certificates"] : states;
    const items = await rowsOf(pool, pageSql(groups, q, revoked, q.offset, q.limit), summarize);
    return { total, items: items.map((i) => ({ entry: i.entry, state: stateOf(i.entry) })) };
  }
  // By state: the states one after the other, each by name, the page cut from their counts.
  const order = q.descending ? states.map((s, i) => [s, counts[i]!] as const).reverse() : states.map((s, i) => [s, counts[i]!] as const);
  const items: IndexPage["items"] = [];
  let at = 0;
  for (const [state, count] of order) {
    const from = Math.max(0, q.offset - at);
    at += count;
    if (from >= count || items.length >= q.limit) continue;
    const part = await rowsOf(pool, pageSql([state], { ...q, sort: "name", descending: false }, revoked, from, q.limit - items.length), summarize);
    items.push(...part.map((i) => ({ entry: i.entry, state })));
  }
  return { total, items };
}

export async function countIndexSql(pool: Pool, revoked: ReadonlySet<bigint>): Promise<Record<ListedState, number>> {
  const { rows } = await pool.query<{ requested: string; certificates: string; revoked: string }>(
    `SELECT (SELECT count(*) FROM ${SCHEMA}.requests) AS requested,
            (SELECT count(*) FROM ${SCHEMA}.certificates) AS certificates,
            (SELECT count(*) FROM ${SCHEMA}.certificates WHERE serial = ANY($1::numeric[])) AS revoked`,
    [[...revoked].map(String)],
  );
  const r = rows[0]!;
  return { requested: Number(r.requested), revoked: Number(r.revoked), signed: Number(r.certificates) - Number(r.revoked) };
}
