/** Runs the real `openssl` CLI on what fleetca produced. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function tmpDir(prefix = "fleetca-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface OpensslResult {
  ok: boolean;
  out: string;
}

export function openssl(args: string[], input?: string): OpensslResult {
  const r = spawnSync("openssl", args, { input, encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** `openssl verify -crl_check` of a leaf against a CA file and CRL file. */
export function verifyWithCrl(caPem: string, crlPem: string, certPem: string): OpensslResult {
  const d = tmpDir();
  fs.writeFileSync(path.join(d, "ca.pem"), caPem);
  fs.writeFileSync(path.join(d, "crl.pem"), crlPem);
  fs.writeFileSync(path.join(d, "cert.pem"), certPem);
  const r = openssl(["verify", "-crl_check", "-CAfile", path.join(d, "ca.pem"), "-CRLfile", path.join(d, "crl.pem"), path.join(d, "cert.pem")]);
  fs.rmSync(d, { recursive: true, force: true });
  return r;
}

export function withFile<T>(content: string, fn: (file: string) => T): T {
  const d = tmpDir();
  const f = path.join(d, "x.pem");
  fs.writeFileSync(f, content);
  try {
    return fn(f);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
}

export const csrVerifies = (pem: string): OpensslResult => withFile(pem, (f) => openssl(["req", "-verify", "-noout", "-in", f]));
export const x509Text = (pem: string): string => withFile(pem, (f) => openssl(["x509", "-noout", "-text", "-in", f]).out);
export const crlText = (pem: string, caPem: string): OpensslResult =>
  withFile(caPem, (ca) => withFile(pem, (f) => openssl(["crl", "-noout", "-text", "-CAfile", ca, "-in", f])));
