/**
 * The OCSP load generator: C slots, each sending one `POST` of a DER request at a time for a
 * fixed duration, on the lean client (bench/lib/lean-http.ts): one keep-alive TLS connection
 * per slot for fleetca, a new plain TCP connection per request for openssl's responder
 * (it answers one request per connection, HTTP/1.0, and closes). Every answer's HTTP status,
 * OCSPResponseStatus and certStatus are checked as it arrives (a walk over a few DER headers);
 * one exchange every duration/30 ms is kept and checked by openssl after the clock stops.
 */
import { startChildServer } from "./child-server.js";
import { LeanConnection } from "./lean-http.js";
import { summarizeLatency, type LatencySummary } from "./http.js";
import { certStatusOf, isSuccessful } from "./ocsp.js";

export interface OcspTarget {
  host: string;
  port: number;
  path: string;
  /** Plain HTTP (openssl's responder) instead of TLS. */
  plain: boolean;
  caPem?: string;
}

export interface OcspSample {
  tag: number;
  request: Buffer;
  response: Buffer;
}

export interface OcspLoadOptions {
  target: OcspTarget;
  concurrency: number;
  durationMs: number;
  /** The next request for a slot, and a tag naming the question (the subject's index). */
  next: (slot: number) => { body: Buffer; tag: number };
  /** Exchanges kept for openssl's checks after the run, spread evenly over it in time (default 30). */
  samples?: number;
  /** The status every answer for a tag must carry (checked on every answer); undefined skips the tag. */
  expect?: (tag: number) => "good" | "revoked" | undefined;
  /** Called with every answer on slot 0 (the staleness watcher), with when it was sent. */
  watch?: (sentAt: number, response: Buffer, tag: number) => void;
  /** Called once, `atMs` into the run, while the load goes on. */
  during?: { atMs: number; run: () => Promise<void> };
}

export interface OcspLoadResult {
  answers: number;
  /** Answers that were not HTTP 200 with a successful OCSPResponse. */
  bad: number;
  /** Answers whose certStatus was not the expected one (or did not parse). */
  wrongStatus: number;
  statuses: Record<string, number>;
  errors: string[];
  errorCount: number;
  wallMs: number;
  perSecond: number;
  latencyMs: LatencySummary;
  connections: number;
  clientCpuMs: number;
  /** Share of the machine's cores the load generator used (its CPU time / wall time / cores). */
  clientShare: number;
  samples: OcspSample[];
}

export async function runOcspLoad(o: OcspLoadOptions, cores: number): Promise<OcspLoadResult> {
  const statuses: Record<string, number> = {};
  const errors: string[] = [];
  const latencies: number[] = [];
  const samples: OcspSample[] = [];
  const wanted = o.samples ?? 30;
  const sampleGap = o.durationMs / wanted;
  let answers = 0;
  let bad = 0;
  let wrongStatus = 0;
  let errorCount = 0;
  let connections = 0;
  const t0 = performance.now();
  const end = t0 + o.durationMs;
  let nextSample = t0;
  const cpu0 = process.cpuUsage();
  const during = o.during ? new Promise<void>((resolve, reject) => setTimeout(() => o.during!.run().then(resolve, reject), o.during!.atMs)) : Promise.resolve();
  const slot = async (s: number) => {
    const conn = new LeanConnection({ host: o.target.host, port: o.target.port, caPem: o.target.caPem, plain: o.target.plain, timeoutMs: 30_000 });
    try {
      while (performance.now() < end) {
        const { body, tag } = o.next(s);
        const sentAt = performance.now();
        try {
          const r = await conn.requestBytes("POST", o.target.path, body, "application/ocsp-request", "application/ocsp-response");
          answers++;
          latencies.push(r.ms);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status !== 200 || !isSuccessful(r.bytes)) {
            bad++;
            if (errors.length < 10) errors.push(`HTTP ${r.status}: ${r.bytes.subarray(0, 200).toString("latin1")}`);
          } else if (o.expect && !(s === 0 && o.watch)) {
            const want = o.expect(tag);
            if (want !== undefined && certStatusOf(r.bytes) !== want) {
              wrongStatus++;
              if (errors.length < 10) errors.push(`question ${tag}: status ${certStatusOf(r.bytes)}, expected ${want}`);
            }
          }
          if (s === 0 && o.watch) o.watch(sentAt, r.bytes, tag);
          // The watcher's answers change status mid-run: they are checked apart.
          if (sentAt >= nextSample && samples.length < wanted && !(s === 0 && o.watch)) {
            nextSample += sampleGap;
            samples.push({ tag, request: Buffer.from(body), response: Buffer.from(r.bytes) });
          }
        } catch (e) {
          errorCount++;
          if (errors.length < 10) errors.push((e as Error).message);
          // A responder that refuses connections should not turn this loop into a spin.
          if (errorCount > 1000) break;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    } finally {
      connections += conn.connections;
      conn.close();
    }
  };
  await Promise.all([...Array.from({ length: o.concurrency }, (_, s) => slot(s)), during]);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const clientCpuMs = (cpu.user + cpu.system) / 1000;
  return {
    answers,
    bad,
    wrongStatus,
    statuses,
    errors,
    errorCount,
    wallMs: Math.round(wallMs),
    perSecond: Math.round((answers / wallMs) * 1000),
    latencyMs: summarizeLatency(latencies),
    connections,
    clientCpuMs: Math.round(clientCpuMs),
    clientShare: Math.round((clientCpuMs / wallMs / cores) * 1000) / 1000,
    samples,
  };
}

/**
 * A stand-in responder that does no OCSP work at all: node:https answering every POST with
 * the same stored OCSP response, in its own process. The load generator against it gives the
 * ceiling for any Node HTTPS responder on this machine with this client: TLS records, HTTP
 * parsing and the client's own share, nothing else.
 */
const STATIC_SERVER = `
const https = require("node:https");
const { key, cert, body } = JSON.parse(process.env.STATIC_OCSP);
const answer = Buffer.from(body, "base64");
const server = https.createServer({ key, cert, keepAliveTimeout: 60000 }, (req, res) => {
  req.on("data", () => {});
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/ocsp-response", "content-length": answer.length });
    res.end(answer);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;

export interface StaticResponder {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

export async function startStaticResponder(keyPem: string, certPem: string, answer: Buffer): Promise<StaticResponder> {
  const env = { ...process.env, STATIC_OCSP: JSON.stringify({ key: keyPem, cert: certPem, body: answer.toString("base64") }) };
  return startChildServer(process.execPath, ["-e", STATIC_SERVER], env, "the static responder");
}
