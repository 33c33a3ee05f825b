/**
 * Flood protection for certificate submissions (PUT certificate_request, POST
 * certificate_renewal): anyone may submit a CSR, and every one accepted is stored and listed
 * for an operator, so one address sending thousands would bury the real requests and fill
 * the disk. Two bounds, checked before the body is read:
 *
 * - per source address, a token bucket: `csr_burst` submissions at once, then `csr_rate` per
 *   second on average. Over it: 429 with Retry-After (the seconds until a token is back) and
 *   a message. A Puppet agent that waits for its certificate submits again once per
 *   `waitforcert` (120 s by default), far below any sensible rate; its polls of
 *   GET certificate/NAME are never counted.
 * - in total, `max_pending_requests`: when the CA holds that many pending requests, a new
 *   submission is refused with 503 and Retry-After until an operator signs or drops some.
 *   503, not 429: the client did nothing wrong, the CA is full (Puppet 7's agent honours
 *   Retry-After on both, Puppet::HTTP::RetryAfterHandler).
 *
 * Refusals store nothing and are logged once per source per minute with how many there
 * were, never once per request (app.ts leaves them out of the request log too), and at
 * most SOURCE_LINES_PER_MINUTE sources a minute: the rest go into one summary line. IPv6
 * sources are counted per /64, what one host usually holds. The table of sources is bounded
 * (MAX_SOURCES, least recently seen evicted first, idle ones swept every few seconds), so
 * spraying addresses costs memory only up to that bound; the pending cap still holds then.
 */
import { isIPv6 } from "node:net";
import type { FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { Settings } from "../config/index.js";

/** Sources tracked at most: about 120 bytes each. */
export const MAX_SOURCES = 10_000;
/** At most one log line per source (and one for the pending cap) per this many ms. */
const LOG_EVERY_MS = 60_000;
/** Per-source lines per minute in all; past it (address spray), sources are counted into one summary line. */
const SOURCE_LINES_PER_MINUTE = 100;
/** The pending count is read from the CA at most this often; submissions admitted meanwhile are added to it. */
const PENDING_FRESH_MS = 1_000;
/** What a client refused by the pending cap is told to wait. */
const PENDING_RETRY_AFTER_S = 60;
const SWEEP_MS = 5_000;

interface Source {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
  /** Refusals not logged yet, and when the source was last logged. */
  refused: number;
  loggedAt: number;
}

export interface Refusal {
  status: 429 | 503;
  retryAfter: number;
  message: string;
}

export interface LimiterDeps {
  settings: () => Settings;
  log: Logger;
  /** How many requests are pending in the CA now. */
  countPending: () => Promise<number>;
  /** Milliseconds, monotonic enough; tests move it. */
  now?: () => number;
  maxSources?: number;
}

/** The key a source is counted under: IPv4 as is, IPv6 by its /64. */
export function sourceKey(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  if (!isIPv6(address)) return address;
  const [head = "", tail] = address.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export class SubmissionLimiter {
  private readonly sources = new Map<string, Source>();
  private readonly now: () => number;
  private readonly maxSources: number;
  private pending = { count: 0, at: -Infinity };
  private counting?: Promise<void>;
  private capRefused = 0;
  private capLoggedAt = -Infinity;
  /** Refusals not reported per source (evicted first, or past SOURCE_LINES_PER_MINUTE): one summary line. */
  private unreported = { refused: 0, sources: 0 };
  private lines = { count: 0, since: -Infinity };
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly d: LimiterDeps) {
    this.now = d.now ?? (() => performance.now());
    this.maxSources = d.maxSources ?? MAX_SOURCES;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Sources tracked now (tests, metrics). */
  get tracked(): number {
    return this.sources.size;
  }

  /**
   * Decides one submission from `address`; undefined admits it. `addsPending`: a CSR that
   * would be stored (the pending cap applies), not a renewal.
   */
  async admit(address: string, addsPending: boolean): Promise<Refusal | undefined> {
    const s = this.d.settings();
    const refusal = this.takeToken(address, s);
    if (refusal) return refusal;
    if (!addsPending || s.maxPendingRequests <= 0) return undefined;
    await this.refreshPending();
    // Checked and reserved in one step after the await: concurrent submissions cannot all pass on one count.
    const pending = this.pending.count;
    if (pending < s.maxPendingRequests) {
      this.pending.count++;
      return undefined;
    }
    this.noteCapRefusal(pending, s.maxPendingRequests);
    return {
      status: 503,
      retryAfter: PENDING_RETRY_AFTER_S,
      message:
        `The CA holds ${pending} pending certificate requests, its limit (max_pending_requests); nothing was stored. ` +
        `Try again in ${PENDING_RETRY_AFTER_S} seconds, once an operator has signed or dropped some.`,
    };
  }

  private takeToken(address: string, s: Settings): Refusal | undefined {
    if (s.csrRate <= 0) return undefined;
    const key = sourceKey(address);
    const now = this.now();
    let src = this.sources.get(key);
    if (src) {
      // Least recently seen first: re-inserting moves it to the end.
      this.sources.delete(key);
      src.tokens = Math.min(s.csrBurst, src.tokens + ((now - src.at) * s.csrRate) / 1000);
      src.at = now;
    } else {
      src = { tokens: s.csrBurst, at: now, refused: 0, loggedAt: -Infinity };
      this.evict();
    }
    this.sources.set(key, src);
    if (src.tokens >= 1) {
      src.tokens -= 1;
      return undefined;
    }
    const retryAfter = Math.max(1, Math.ceil((1 - src.tokens) / s.csrRate));
    src.refused++;
    if (now - src.loggedAt >= LOG_EVERY_MS) this.logSource(key, src, s, now);
    return {
      status: 429,
      retryAfter,
      message:
        `Too many certificate requests from ${key}: at most ${s.csrRate} per second (csr_rate) after a burst of ${s.csrBurst} (csr_burst); ` +
        `nothing was stored. Try again in ${plural(retryAfter, "second")}.`,
    };
  }

  /** Makes room for one more source: the least recently seen go first. */
  private evict(): void {
    while (this.sources.size >= this.maxSources) {
      const [key, oldest] = this.sources.entries().next().value as [string, Source];
      this.sources.delete(key);
      if (oldest.refused > 0) {
        this.unreported.refused += oldest.refused;
        this.unreported.sources++;
      }
    }
  }

  private logSource(key: string, src: Source, s: Settings, now: number): void {
    if (now - this.lines.since >= LOG_EVERY_MS) this.lines = { count: 0, since: now };
    if (++this.lines.count > SOURCE_LINES_PER_MINUTE) {
      this.unreported.refused += src.refused;
      this.unreported.sources++;
      src.refused = 0;
      src.loggedAt = now;
      return;
    }
    this.d.log.warn(
      { source: key, refused: src.refused, csrRate: s.csrRate, csrBurst: s.csrBurst },
      `Refused ${plural(src.refused, "certificate submission")} from ${key} since the last report: over csr_rate ${s.csrRate}/s (burst ${s.csrBurst}). Reported at most once a minute per source.`,
    );
    src.refused = 0;
    src.loggedAt = now;
  }

  private noteCapRefusal(pending: number, max: number): void {
    this.capRefused++;
    const now = this.now();
    if (now - this.capLoggedAt < LOG_EVERY_MS) return;
    this.logCap(pending, max, now);
  }

  private logCap(pending: number, max: number, now: number): void {
    this.d.log.warn(
      { refused: this.capRefused, pending, maxPendingRequests: max },
      `Refused ${plural(this.capRefused, "certificate request")} since the last report: the CA holds ${pending} pending requests (max_pending_requests ${max}). Reported at most once a minute.`,
    );
    this.capRefused = 0;
    this.capLoggedAt = now;
  }

  /** Reads the pending count again when older than PENDING_FRESH_MS (one read at a time). */
  private async refreshPending(): Promise<void> {
    if (this.now() - this.pending.at < PENDING_FRESH_MS) return;
    this.counting ??= this.d
      .countPending()
      .then((count) => void (this.pending = { count, at: this.now() }))
      .finally(() => (this.counting = undefined));
    await this.counting;
  }

  /** Logs refusals a minute old or more, and forgets sources whose bucket is full again. */
  sweep(): void {
    const s = this.d.settings();
    const now = this.now();
    for (const [key, src] of this.sources) {
      if (src.refused > 0 && now - src.loggedAt >= LOG_EVERY_MS) this.logSource(key, src, s, now);
      const full = s.csrRate <= 0 || src.tokens + ((now - src.at) * s.csrRate) / 1000 >= s.csrBurst;
      // Kept a minute after it was reported, so a source that pauses is still reported once a minute.
      if (full && src.refused === 0 && now - src.loggedAt >= LOG_EVERY_MS) this.sources.delete(key);
    }
    if (this.capRefused > 0 && now - this.capLoggedAt >= LOG_EVERY_MS) this.logCap(this.pending.count, s.maxPendingRequests, now);
    if (this.unreported.refused > 0 && now - this.lines.since >= LOG_EVERY_MS) {
      const { refused, sources } = this.unreported;
      this.d.log.warn(
        { refused, sources, tracked: this.sources.size },
        `Refused ${plural(refused, "certificate submission")} from ${plural(sources, "more source")} over csr_rate, not reported one by one ` +
          `(more than ${SOURCE_LINES_PER_MINUTE} sources a minute, or more than ${this.maxSources} at once).`,
      );
      this.unreported = { refused: 0, sources: 0 };
      this.lines = { count: 0, since: now };
    }
  }
}

/** Requests refused by the limiter: the request log leaves them out (they are reported once a minute instead). */
const refused = new WeakSet<FastifyRequest>();
export const markRefused = (request: FastifyRequest): void => void refused.add(request);
export const wasRefused = (request: FastifyRequest): boolean => refused.has(request);
