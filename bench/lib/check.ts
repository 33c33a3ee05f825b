/**
 * Checks every certificate the load generator gets back, with code that is not fleetca's:
 * node:crypto's X509Certificate (OpenSSL's parser) for all of them, and the `openssl verify`
 * CLI with the CRL for a sample (one process for the whole sample, to keep it cheap).
 */
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentIdentity } from "./agents.js";

export interface CertCheck {
  parsed: number;
  cnMatch: number;
  signatureOk: number;
  keyMatch: number;
  /** The first few problems, for the report. */
  problems: string[];
}

export function newCheck(): CertCheck {
  return { parsed: 0, cnMatch: 0, signatureOk: 0, keyMatch: 0, problems: [] };
}

/** True when the certificate passed every check; problems are recorded in `acc`. */
export function checkCertificate(pem: string, agent: AgentIdentity, ca: X509Certificate, acc: CertCheck): boolean {
  const problem = (p: string) => {
    if (acc.problems.length < 10) acc.problems.push(`${agent.name}: ${p}`);
    return false;
  };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    return problem(`does not parse: ${(e as Error).message}`);
  }
  acc.parsed++;
  let ok = true;
  // X509Certificate.subject is "CN=name" (one RDN per line when there are several).
  if (cert.subject === `CN=${agent.name}`) acc.cnMatch++;
  else ok = problem(`subject is ${JSON.stringify(cert.subject)}`);
  if (cert.verify(ca.publicKey) && cert.checkIssued(ca)) acc.signatureOk++;
  else ok = problem("signature does not verify against the CA certificate");
  const spki = cert.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  if (spki === agent.spki) acc.keyMatch++;
  else ok = problem("certificate does not carry the agent's public key");
  return ok;
}

export interface OpensslCheck {
  sample: number;
  ok: number;
  output?: string;
}

/** `openssl verify -crl_check` on up to `max` certificates, evenly spread over the run. */
export function opensslVerify(caPem: string, crlPem: string, certs: string[], max = 20): OpensslCheck {
  if (certs.length === 0) return { sample: 0, ok: 0 };
  const step = Math.max(1, Math.floor(certs.length / max));
  const sample = certs.filter((_, i) => i % step === 0).slice(0, max);
  const dir = mkdtempSync(join(process.env.TMPDIR ?? "/tmp", "fleetca-bench-verify-"));
  try {
    writeFileSync(join(dir, "ca.pem"), caPem);
    writeFileSync(join(dir, "crl.pem"), crlPem);
    const files = sample.map((pem, i) => {
      const f = join(dir, `c${i}.pem`);
      writeFileSync(f, pem);
      return f;
    });
    const r = spawnSync("openssl", ["verify", "-crl_check", "-CAfile", join(dir, "ca.pem"), "-CRLfile", join(dir, "crl.pem"), ...files], { encoding: "utf8" });
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
    const ok = out.split("\n").filter((l) => /: OK$/.test(l)).length;
    return ok === sample.length ? { sample: sample.length, ok } : { sample: sample.length, ok, output: out.slice(0, 2000) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
