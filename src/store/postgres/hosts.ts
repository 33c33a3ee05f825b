/**
 * Several database addresses in one URL, as libpq takes them
 * (postgres://user@db1:5432,db2:5432/fleetca?target_session_attrs=read-write): node-postgres
 * connects to one host only, so the store picks the host itself. Every new connection goes
 * to the host that last accepted a read-write session; one that refuses (down, or a standby
 * in recovery) moves the choice on to the next, so after a failover the pool finds the new
 * primary on its own.
 */
import pg from "pg";

export interface HostList {
  /** One single-host URL per address, in the URL's order. */
  urls: string[];
  /** True when a connection must accept writes (libpq's target_session_attrs=read-write). */
  readWrite: boolean;
}

/** Splits a libpq multi-host URL; a single-host URL gives a list of one. */
export function parseHosts(url: string): HostList {
  const m = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/.exec(url);
  if (!m) return { urls: [url], readWrite: false };
  const [, scheme, userinfo = "", hostPart = "", rest = ""] = m;
  const hosts = hostPart.split(",").filter((h) => h !== "");
  // target_session_attrs is libpq's: node-postgres would pass it to the server as a setting.
  const [path, query = ""] = rest.split("?", 2) as [string, string?];
  const params = new URLSearchParams(query);
  const attrs = params.get("target_session_attrs");
  params.delete("target_session_attrs");
  if (attrs !== null && attrs !== "read-write" && attrs !== "any") {
    throw new Error(`target_session_attrs=${attrs} is not supported: fleetca writes, so use read-write (or leave it out)`);
  }
  const q = params.toString();
  const urls = (hosts.length > 0 ? hosts : [""]).map((h) => `${scheme}${userinfo}${h}${path}${q ? `?${q}` : ""}`);
  // Several hosts are there for a failover: only a primary will do, whatever the URL says.
  return { urls, readWrite: attrs === "read-write" || hosts.length > 1 };
}

/** A connection refused for being read-only (a standby): the pool tries the next host. */
export class NotPrimaryError extends Error {
  constructor(readonly host: string) {
    super(`${host} accepts only read-only sessions (a standby): looking for the primary among the other hosts`);
    this.name = "NotPrimaryError";
  }
}

/** The host the next connection tries, moved on when one fails. */
class HostChoice {
  private index = 0;
  constructor(readonly list: HostList) {}

  get current(): number {
    return this.index;
  }

  /** A connection to host `i` failed: the next ones try the host after it (unless another failure moved on already). */
  failed(i: number): void {
    if (this.index === i) this.index = (i + 1) % this.list.urls.length;
  }
}

/**
 * A pg.Pool over the hosts of `url`: `options` as for pg.Pool, minus connectionString. Each
 * connect tries at most every host once before failing with the last host's error, and
 * each new connection is prepared once (prepare, below) before it is used.
 */
export interface PoolHooks {
  /** Told once when the database's synchronous_commit is off (fleetca's sessions turn it on). */
  onAsyncCommit?: () => void;
}

export function hostPool(url: string, options: pg.PoolConfig, label: (hostUrl: string) => string, hooks: PoolHooks = {}): pg.Pool {
  const list = parseHosts(url);
  const choice = new HostChoice(list);
  // pg's connectionString wins over host and port, so each client gets the URL of the host chosen when it is made.
  class ChosenHostClient extends pg.Client {
    readonly hostIndex: number;
    constructor(config: pg.ClientConfig = {}) {
      const i = choice.current;
      super({ ...config, connectionString: list.urls[i] });
      this.hostIndex = i;
      // pg emits 'error' on a client whose connection dies, even while a statement is running,
      // and the pool listens only while the client is idle in it. A client in use with no
      // listener of its own (the lock's unlock statement, a transaction between statements)
      // would turn a database restart into an uncaught exception that ends the server. The
      // holder learns of the loss from its statement, or from the next one ("not queryable").
      this.on("error", () => undefined);
    }
  }
  // Connections already prepared: each is checked once, when new.
  const checked = new WeakSet<pg.PoolClient>();
  let toldAsync = false;
  /**
   * A new connection must accept writes (when the URL asks for a primary) and commit durably.
   * With synchronous_commit = off, PostgreSQL answers COMMIT before the commit is in its WAL
   * on disk, and a crash of the database then undoes commits it acknowledged: a certificate
   * handed to a client would vanish, and the serial counter step back so that a serial is
   * issued twice. A database set that way (for other applications) gets fleetca's sessions
   * back to PostgreSQL's default, in the same round trip as the read-only check.
   */
  const prepare = async (client: pg.PoolClient): Promise<void> => {
    if (checked.has(client)) return;
    const { rows } = await client.query<{ ro: string; raised: string | null }>(
      `SELECT current_setting('transaction_read_only') AS ro,
              CASE WHEN current_setting('synchronous_commit') = 'off' THEN set_config('synchronous_commit', 'on', false) END AS raised`,
    );
    if (list.readWrite && rows[0]?.ro !== "off") throw new NotPrimaryError(label(list.urls[(client as unknown as ChosenHostClient).hostIndex] ?? url));
    if (rows[0]?.raised && !toldAsync) {
      toldAsync = true;
      hooks.onAsyncCommit?.();
    }
    checked.add(client);
  };

  class HostPool extends pg.Pool {
    override connect(): Promise<pg.PoolClient>;
    override connect(cb: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
    override connect(cb?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): Promise<pg.PoolClient> | void {
      const attempt = async (): Promise<pg.PoolClient> => {
        let last: unknown;
        for (let n = 0; n < list.urls.length; n++) {
          const i = choice.current;
          let client: pg.PoolClient | undefined;
          try {
            client = await super.connect();
            await prepare(client);
            return client;
          } catch (e) {
            // A standby's (or a broken) connection is closed, not given back to the pool.
            client?.release(e as Error);
            last = e;
            // Only a failure to reach or to write decides between hosts; a wrong password is the same everywhere.
            if (!(e instanceof NotPrimaryError) && !isUnreachable(e)) throw e;
            choice.failed(i);
          }
        }
        throw last;
      };
      if (!cb) return attempt();
      attempt().then(
        (c) => cb(undefined, c, (release?: unknown) => c.release(release as Error | undefined)),
        (e: Error) => cb(e, undefined, () => undefined),
      );
    }
  }
  return new HostPool({ ...options, connectionString: list.urls[0], Client: ChosenHostClient } as pg.PoolConfig);
}

/** Network-level failures and a server that is starting, stopping or recovering. */
export function isUnreachable(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  const code = err?.code ?? "";
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "ENOTFOUND", "EAI_AGAIN"].includes(code)) return true;
  // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now (starting up, recovering).
  if (/^08/.test(code) || ["57P01", "57P02", "57P03"].includes(code)) return true;
  return isQueryTimeout(e) || /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed/i.test(err?.message ?? "");
}

/** A statement node-postgres gave up waiting for (the pool's query_timeout). */
export function isQueryTimeout(e: unknown): boolean {
  return (e as { message?: string } | undefined)?.message === "Query read timeout";
}
