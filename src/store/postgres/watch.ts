/**
 * The CA material's version as the database announces it: a trigger on fleetca.ca sends
 * NOTIFY fleetca_ca with "epoch:version" on every change (migration 3), and one connection
 * per server LISTENs. While it is connected, a server knows of a revoke made anywhere within
 * milliseconds without asking; when it is not (the database restarting, a failover), the
 * store falls back to reading the version row, which the CA does at most every 250 ms.
 */
import type pg from "pg";

export const CHANNEL = "fleetca_ca";

interface Version {
  epoch: string;
  n: bigint;
  text: string;
}

function parse(text: string): Version | undefined {
  const i = text.lastIndexOf(":");
  if (i < 0) return undefined;
  try {
    return { epoch: text.slice(0, i), n: BigInt(text.slice(i + 1)), text };
  } catch {
    return undefined;
  }
}

export class MaterialWatch {
  private latest?: Version;
  private live = false;
  private stopped = false;
  private client?: pg.PoolClient;
  private retry?: NodeJS.Timeout;
  private readonly loop: Promise<void>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly versionSql: string,
    private readonly onState: (live: boolean, why?: string) => void,
  ) {
    this.loop = this.run();
  }

  /** The latest version announced, while listening; undefined when the caller must read it. */
  version(): string | undefined {
    return this.live ? this.latest?.text : undefined;
  }

  /**
   * A version seen by this process (its own write's RETURNING, a notification, a read).
   * Within an epoch versions only grow, so a notification that overtook a reply cannot
   * turn the clock back; a new epoch (the CA replaced) is taken as it comes.
   */
  observe(text: string): void {
    const v = parse(text);
    if (!v) return;
    if (!this.latest || this.latest.epoch !== v.epoch || v.n > this.latest.n) this.latest = v;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    c?.release(new Error("store closed"));
    await this.loop;
  }

  /** Gives the connection back, closed, unless stop() already did. */
  private drop(client: pg.PoolClient, e: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.release(e);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let why = "";
      try {
        const client = await this.pool.connect();
        this.client = client;
        const ended = new Promise<string>((resolve) => {
          client.on("error", (e: Error) => resolve(e.message));
          client.once("end", () => resolve("connection closed"));
        });
        client.on("notification", (n) => {
          if (n.channel === CHANNEL && n.payload) this.observe(n.payload);
        });
        await client.query(`LISTEN ${CHANNEL}`);
        // Read after LISTEN: a change made between the two is in the read or in a notification.
        const { rows } = await client.query<{ v: string }>(this.versionSql);
        this.latest = undefined;
        this.observe(rows[0]?.v ?? "");
        if (!this.stopped) {
          this.live = true;
          this.onState(true);
        }
        why = await ended;
        this.drop(client, new Error(why));
      } catch (e) {
        why = (e as Error).message;
        if (this.client) this.drop(this.client, e as Error);
      }
      if (this.live) {
        this.live = false;
        if (!this.stopped) this.onState(false, why);
      }
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        this.retry = setTimeout(resolve, 1000);
        this.retry.unref();
      });
    }
  }
}
