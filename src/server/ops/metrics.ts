/**
 * Prometheus metrics (prom-client), attached at the edge: the CA reports every outcome to its
 * Meter port (ca/audit.ts), the store is timed by a wrapper around it, requests are counted by
 * a root hook, and what is a state rather than an event (pending requests, the CRL, expiries)
 * is read from the CA when /metrics is scraped. Nothing here is called from domain code.
 *
 * One registry per server process (not prom-client's global one), so tests and several apps
 * in one process do not share counters. Labels have bounded values only: route patterns (not
 * paths), status codes, audit actions, principal kinds, CaError kinds, store method names.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Meter } from "../../ca/audit.js";
import type { CertificateAuthority } from "../../ca/authority.js";
import type { CaStore } from "../../ca/store.js";

/** What the gauges read at scrape time. */
export interface MetricsSource {
  ca: () => CertificateAuthority;
  now?: () => number;
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"route" | "method" | "status">;
  private readonly latency: Histogram<"route" | "method">;
  private readonly outcomes: Counter<"action" | "outcome" | "by">;
  private readonly refusals: Counter<"action" | "reason">;
  private readonly storeLatency: Histogram<"operation" | "result">;
  private source?: MetricsSource;

  /** The CA's meter port, bound to these metrics. */
  readonly meter: Meter = {
    outcome: (action, outcome, by, reason) => {
      this.outcomes.inc({ action, outcome, by });
      if (outcome === "refused") this.refusals.inc({ action, reason: reason ?? "other" });
    },
  };

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "fleetca_" });
    this.requests = new Counter({ name: "fleetca_http_requests_total", help: "HTTP requests answered, by route pattern, method and status code.", labelNames: ["route", "method", "status"], registers });
    this.latency = new Histogram({
      name: "fleetca_http_request_duration_seconds",
      help: "Time from a request's arrival to its answer, by route pattern and method.",
      labelNames: ["route", "method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.outcomes = new Counter({
      name: "fleetca_ca_operations_total",
      help: "CA operations by audit action (signed, submitted, revoked, renewed...), outcome (ok, refused) and caller kind.",
      labelNames: ["action", "outcome", "by"],
      registers,
    });
    this.refusals = new Counter({
      name: "fleetca_ca_refusals_total",
      help: "CA operations refused, by audit action and reason (the error kind: invalid-csr, duplicate-cert, disallowed-extension...).",
      labelNames: ["action", "reason"],
      registers,
    });
    this.storeLatency = new Histogram({
      name: "fleetca_store_operation_duration_seconds",
      help: "Time the CA store took per call, by store method and result (ok, error).",
      labelNames: ["operation", "result"],
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the gauges' collect() gets the gauge as `this`
    const metrics = this;
    const gauge = (name: string, help: string, read: (s: MetricsSource, now: number) => Promise<number | undefined>) =>
      new Gauge({
        name,
        help,
        registers,
        collect: async function (this: Gauge) {
          const s = metrics.source;
          if (!s) return;
          const value = await read(s, (s.now ?? Date.now)()).catch(() => undefined);
          // An unreadable value is left out of the scrape (absent, which alerts can see) rather than reported as 0.
          if (value === undefined) this.reset();
          else this.set(value);
        },
      });
    gauge("fleetca_pending_requests", "Certificate requests waiting for an operator.", async (s) => (await s.ca().entries("requested")).length);
    gauge("fleetca_crl_entries", "Serials listed in the CA's CRL.", async (s) => (await s.ca().current()).crl.serials.size);
    gauge("fleetca_crl_bytes", "Size of the CRL the server serves (PEM, with any outer CAs' CRLs).", async (s) => Buffer.byteLength(await s.ca().crlPem()));
    gauge("fleetca_crl_expiry_seconds", "Seconds until the CRL's nextUpdate (negative once it has passed).", async (s, now) => ((await s.ca().current()).crl.nextUpdate.getTime() - now) / 1000);
    gauge("fleetca_ca_certificate_expiry_seconds", "Seconds until the CA certificate's notAfter (negative once it has passed).", async (s, now) => ((await s.ca().current()).cert.notAfter.getTime() - now) / 1000);
  }

  /** Where the gauges read from; the CA may be replaced (SIGHUP), so it is a function. */
  attach(s: MetricsSource): void {
    this.source = s;
  }

  get attached(): boolean {
    return this.source !== undefined;
  }

  /** Counts one answered request under its route pattern (404s as "unmatched", never the raw path). */
  observeRequest(request: FastifyRequest, reply: FastifyReply): void {
    this.observe(request.routeOptions.url ?? "unmatched", request.method, reply.statusCode, reply.elapsedTime / 1000);
  }

  /** observeRequest for a request answered outside fastify (puppet-ca/fast-gets.ts), under its route pattern. */
  observe(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route, method }, seconds);
  }

  /** The store, with every method call timed. Non-function members and absent capabilities pass through. */
  timedStore<S extends CaStore>(store: S): S {
    const histogram = this.storeLatency;
    const wrapped = new Map<PropertyKey, unknown>();
    return new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== "function" || typeof key !== "string" || key === "constructor") return value;
        let fn = wrapped.get(key);
        if (!fn) {
          // Label objects made once per method: startTimer's end() merges and re-validates them on every call.
          const ok = { operation: key, result: "ok" };
          const error = { operation: key, result: "error" };
          fn = function timed(this: unknown, ...args: unknown[]) {
            const t0 = performance.now();
            const seconds = () => (performance.now() - t0) / 1000;
            let result: unknown;
            try {
              result = (value as (...a: unknown[]) => unknown).apply(target, args);
            } catch (e) {
              histogram.observe(error, seconds());
              throw e;
            }
            if (result instanceof Promise) {
              return result.then(
                (v: unknown) => (histogram.observe(ok, seconds()), v),
                (e: unknown) => {
                  histogram.observe(error, seconds());
                  throw e;
                },
              );
            }
            histogram.observe(ok, seconds());
            return result;
          };
          wrapped.set(key, fn);
        }
        return fn;
      },
    });
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/** Counts every answered request, on every surface (a root hook). */
export function meterRequests(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook("onResponse", async (request, reply) => metrics.observeRequest(request, reply));
}
