/** A minimal HTTPS client over one keep-alive pool, as a Puppet agent's connection reuse. */
import https from "node:https";

export interface HttpResponse {
  status: number;
  body: string;
  ms: number;
}

export interface Pool {
  agent: https.Agent;
  base: URL;
  request(method: "GET" | "PUT" | "POST" | "DELETE", path: string, body?: string, headers?: Record<string, string>): Promise<HttpResponse>;
  close(): void;
}

/**
 * `caPem` undefined means no server verification: what an agent does for its very first
 * request (it has no CA certificate yet). With a CA, the chain is verified but not the
 * host name, because the benchmark reaches the server as 127.0.0.1 whatever its certname.
 */
export function pool(url: string, maxSockets: number, caPem?: string, timeoutMs = 60_000, client?: { certPem: string; keyPem: string }): Pool {
  const base = new URL(url);
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets,
    ca: caPem,
    cert: client?.certPem,
    key: client?.keyPem,
    rejectUnauthorized: caPem !== undefined,
    checkServerIdentity: () => undefined,
  });
  const request: Pool["request"] = (method, path, body, headers = {}) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = https.request(
        new URL(path, base),
        { method, agent, headers: { Accept: "text/plain", ...headers }, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - t0 }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end(body);
    });
  return { agent, base, request, close: () => agent.destroy() };
}

/** Percentile of an ascending array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function summarizeLatency(ms: number[]): LatencySummary {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s.at(-1) ?? Number.NaN) };
}
