/**
 * Agents enrolling through Puppet's CA API as the agent does it (fetch the certificate; if
 * there is none, submit the CSR, then fetch it), retrying what a 503 refused, for the tests
 * that take the database away under load.
 */
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { openssl, tmpDir } from "./openssl.js";

export interface Enrollment {
  name: string;
  certPem: string;
}

export interface LoadReport {
  enrolled: Enrollment[];
  /** 503 answers seen, with their Retry-After header. */
  unavailable: { retryAfter: string | undefined; body: string }[];
}

function request(url: string, caPem: string, method: string, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: caPem, agent: false, checkServerIdentity: anyName, headers: body ? { "content-type": "text/plain" } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** CSRs made by openssl, one EC key each. */
export function makeCsrs(names: string[]): Map<string, string> {
  const dir = tmpDir();
  const out = new Map<string, string>();
  for (const name of names) {
    const key = path.join(dir, `${name}.key`);
    const r = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", `/CN=${name}`]);
    if (!r.ok) throw new Error(r.out);
    out.set(name, r.out.slice(r.out.indexOf("-----BEGIN CERTIFICATE REQUEST-----")));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

/** Each server's certificate names its own certname, not 127.0.0.1: the chain to the CA is what these tests check. */
export const anyName = (): undefined => undefined;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Enrolls every name, `workers` at a time, through `base()` (read per request: a test may
 * switch servers). `onEnrolled` sees the running count. A 503 is retried after a short pause
 * (the tests do not wait the Retry-After they check); anything else unexpected fails.
 */
export async function enrollAll(
  base: () => string,
  caPem: string,
  csrs: Map<string, string>,
  workers: number,
  onEnrolled: (count: number) => void = () => undefined,
): Promise<LoadReport> {
  const report: LoadReport = { enrolled: [], unavailable: [] };
  const queue = [...csrs.keys()];
  const one = async (name: string): Promise<string> => {
    for (let attempt = 0; attempt < 300; attempt++) {
      const url = `${base()}/puppet-ca/v1/certificate/${name}`;
      let r: Awaited<ReturnType<typeof request>>;
      try {
        r = await request(url, caPem, "GET");
        if (r.status === 200) return r.body;
        if (r.status === 404) {
          r = await request(`${base()}/puppet-ca/v1/certificate_request/${name}`, caPem, "PUT", csrs.get(name));
          // Signed now, or already (a submission whose answer was lost): fetch it.
          if (r.status === 200 || (r.status === 400 && /already has a|signed certificate/i.test(r.body))) continue;
        }
      } catch {
        // The server itself restarting or a connection reset: as a 503.
        await pause(100);
        continue;
      }
      if (r.status === 503) {
        const retry = r.headers["retry-after"];
        report.unavailable.push({ retryAfter: Array.isArray(retry) ? retry[0] : retry, body: r.body });
        await pause(100);
        continue;
      }
      throw new Error(`enrolling ${name}: unexpected ${r.status}: ${r.body}`);
    }
    throw new Error(`enrolling ${name}: gave up; the last 503 said: ${report.unavailable.at(-1)?.body ?? "(none)"}`);
  };
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        report.enrolled.push({ name, certPem: await one(name) });
        onEnrolled(report.enrolled.length);
      }
    }),
  );
  return report;
}
