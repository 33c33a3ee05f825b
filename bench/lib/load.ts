/**
 * The load generator: N simulated agents enrolling against any Puppet-compatible CA
 * (fleetca, Puppet Server), C at a time, each of the C slots on its own keep-alive TLS
 * connection, each agent doing what a Puppet agent's first run does: GET certificate/ca,
 * GET certificate_revocation_list/ca, PUT certificate_request/NAME, GET certificate/NAME
 * (polled while the CA answers 404).
 *
 * Every certificate is checked, but after the clock stops: the checks (an X.509 parse and
 * a signature verification each) would otherwise run on the same two cores as the server
 * and lower the figure being measured. Their cost is reported separately.
 */
import { X509Certificate } from "node:crypto";
import type { AgentIdentity } from "./agents.js";
import { checkCertificate, newCheck, opensslVerify, type CertCheck, type OpensslCheck } from "./check.js";
import { pool, summarizeLatency, type LatencySummary, type Pool } from "./http.js";
import { LeanConnection } from "./lean-http.js";

const API = "/puppet-ca/v1";

export interface LoadOptions {
  /** e.g. https://127.0.0.1:8140 */
  url: string;
  agents: AgentIdentity[];
  concurrency: number;
  /** Only submit CSRs (a CA without autosign): no certificate fetch, no checks. */
  submitOnly?: boolean;
  /** Pause between polls while certificate/NAME answers 404, and how many polls before giving up. */
  pollMs?: number;
  maxPolls?: number;
  /** Certificates checked with the openssl CLI. */
  opensslSample?: number;
}

export interface LoadResult {
  url: string;
  n: number;
  concurrency: number;
  succeeded: number;
  failed: number;
  wallMs: number;
  /** Completed enrollments (or submissions) per second of wall time. */
  perSecond: number;
  /** One enrollment: its four requests (and polls) from first byte sent to last byte read. */
  latencyMs: LatencySummary;
  requestLatencyMs: Record<string, LatencySummary>;
  statuses: Record<string, number>;
  errors: string[];
  check: CertCheck;
  openssl: OpensslCheck;
  /** CPU the load generator's own process spent (it shares the cores with the server). */
  clientCpuMs: number;
  clientCpuPerEnrollmentMs: number;
  /** Checking every certificate after the run (not in clientCpuMs). */
  checkMs: number;
}

/** Fetches the CA certificate without verification, as an agent's bootstrap does. */
export async function fetchCaCertificate(url: string): Promise<string> {
  const p = pool(url, 1);
  try {
    const r = await p.request("GET", `${API}/certificate/ca`);
    if (r.status !== 200) throw new Error(`GET ${API}/certificate/ca answered ${r.status}: ${r.body.slice(0, 200)}`);
    return r.body;
  } finally {
    p.close();
  }
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const caPem = await fetchCaCertificate(o.url);
  const ca = new X509Certificate(caPem);
  const base = new URL(o.url);
  const connect = () => new LeanConnection({ host: base.hostname, port: Number(base.port || 443), caPem });
  const statuses: Record<string, number> = {};
  const errors: string[] = [];
  const perKind: Record<string, number[]> = { ca: [], crl: [], submit: [], cert: [] };
  const latencies: number[] = [];
  const issued: { pem: string; agent: AgentIdentity }[] = [];
  let lastCrl = "";
  let succeeded = 0;
  let next = 0;

  const call = async (http: LeanConnection, kind: string, method: "GET" | "PUT", path: string, body?: string) => {
    const r = await http.request(method, path, body);
    perKind[kind]!.push(r.ms);
    const key = `${kind} ${r.status}`;
    statuses[key] = (statuses[key] ?? 0) + 1;
    return r;
  };

  const enroll = async (http: LeanConnection, agent: AgentIdentity): Promise<boolean> => {
    const t0 = performance.now();
    const caR = await call(http, "ca", "GET", `${API}/certificate/ca`);
    if (caR.status !== 200) throw new Error(`certificate/ca: ${caR.status}`);
    const crlR = await call(http, "crl", "GET", `${API}/certificate_revocation_list/ca`);
    if (crlR.status !== 200) throw new Error(`certificate_revocation_list/ca: ${crlR.status}`);
    lastCrl = crlR.body;
    const sub = await call(http, "submit", "PUT", `${API}/certificate_request/${agent.name}`, agent.csrPem);
    if (sub.status !== 200) throw new Error(`certificate_request: ${sub.status} ${sub.body.slice(0, 200)}`);
    if (o.submitOnly) {
      latencies.push(performance.now() - t0);
      return true;
    }
    for (let poll = 0; ; poll++) {
      const c = await call(http, "cert", "GET", `${API}/certificate/${agent.name}`);
      if (c.status === 200) {
        latencies.push(performance.now() - t0);
        issued.push({ pem: c.body, agent });
        return true;
      }
      if (c.status !== 404 || poll >= (o.maxPolls ?? 0)) throw new Error(`certificate/${agent.name}: ${c.status} ${c.body.slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, o.pollMs ?? 100));
    }
  };

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    const http = connect();
    try {
      while (next < o.agents.length) {
        const agent = o.agents[next++]!;
        try {
          if (await enroll(http, agent)) succeeded++;
        } catch (e) {
          if (errors.length < 20) errors.push(`${agent.name}: ${(e as Error).message}`);
        }
      }
    } finally {
      http.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.agents.length) }, worker));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const clientCpuMs = (cpu.user + cpu.system) / 1000;
  const tCheck = performance.now();
  const check = newCheck();
  for (const { pem, agent } of issued) if (!checkCertificate(pem, agent, ca, check)) succeeded--;
  const checkMs = performance.now() - tCheck;
  const n = o.agents.length;
  return {
    url: o.url,
    n,
    concurrency: o.concurrency,
    succeeded,
    failed: n - succeeded,
    wallMs: Math.round(wallMs),
    // Enrollments that completed in the timed run; a certificate failing a check later counts as failed above.
    perSecond: round(((o.submitOnly ? succeeded : issued.length) / wallMs) * 1000),
    latencyMs: summarizeLatency(latencies),
    requestLatencyMs: Object.fromEntries(Object.entries(perKind).filter(([, v]) => v.length > 0).map(([k, v]) => [k, summarizeLatency(v)])),
    statuses,
    errors,
    check,
    openssl: o.submitOnly ? { sample: 0, ok: 0 } : opensslVerify(caPem, lastCrl, issued.map((i) => i.pem), o.opensslSample ?? 20),
    clientCpuMs: Math.round(clientCpuMs),
    clientCpuPerEnrollmentMs: round(clientCpuMs / Math.max(1, n), 3),
    checkMs: Math.round(checkMs),
  };
}

/** Warm-up enrollments before a timed run of n (not counted in any figure). */
export function warmupFor(n: number): number {
  return Math.min(2000, Math.max(20, n));
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Used by the smoke test and the scenarios: the pool for other requests (status, admin). */
export type { Pool };
