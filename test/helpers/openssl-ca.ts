/**
 * A root CA and an intermediate under it, made by the openssl CLI at test time (never
 * committed), with `openssl ca` databases so each can sign CRLs and revoke: the outside PKI
 * an intermediate fleetca CA is imported from.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { openssl } from "./openssl.js";

export function run(args: string[]): string {
  const r = openssl(args);
  assert.ok(r.ok, `openssl ${args.join(" ")}:\n${r.out}`);
  return r.out;
}

export interface OpensslCa {
  /** Its `openssl ca` config (database, crlnumber, key, certificate). */
  cnf: string;
  certFile: string;
  keyFile: string;
  /** Signs a CRL now (the next CRL number) and returns its PEM. */
  gencrl(out: string): string;
  /** Records `certFile` as revoked in the CA's database (the next CRL lists it). */
  revoke(certFile: string): void;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** An `openssl ca` directory for `name` under `dir`, CRL numbers from `firstCrlNumber` (hex). */
export function opensslCa(dir: string, name: string, firstCrlNumber: string): OpensslCa {
  const home = path.join(dir, name);
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, "index.txt"), "");
  fs.writeFileSync(path.join(home, "crlnumber"), `${firstCrlNumber}\n`);
  const certFile = path.join(home, "ca.pem");
  const keyFile = path.join(home, "ca.key");
  const cnf = path.join(home, "ca.cnf");
  fs.writeFileSync(
    cnf,
    `[ca]\ndefault_ca = this_ca\n[this_ca]\ndatabase = ${home}/index.txt\ncrlnumber = ${home}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n` +
      `certificate = ${certFile}\nprivate_key = ${keyFile}\ncrl_extensions = crl_ext\n` +
      `[crl_ext]\nauthorityKeyIdentifier = keyid:always\n` +
      `[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n`,
  );
  return {
    cnf,
    certFile,
    keyFile,
    gencrl: (out) => (run(["ca", "-config", cnf, "-gencrl", "-out", out]), fs.readFileSync(out, "utf8")),
    revoke: (file) => void run(["ca", "-config", cnf, "-revoke", file]),
  };
}

/** A self-signed root CA. */
export function makeRoot(dir: string, cn: string, firstCrlNumber = "01"): OpensslCa {
  const ca = opensslCa(dir, "root", firstCrlNumber);
  run(["req", "-x509", ...EC, "-keyout", ca.keyFile, "-out", ca.certFile, "-subj", `/CN=${cn}`, "-days", "3650", "-config", ca.cnf, "-extensions", "v3_ca"]);
  return ca;
}

/** A CA certificate under `parent` (serial `serial`), with its own `openssl ca` directory. */
export function makeIntermediate(dir: string, parent: OpensslCa, cn: string, serial: number, firstCrlNumber = "00"): OpensslCa {
  const ca = opensslCa(dir, `ca-${serial}`, firstCrlNumber);
  const csr = path.join(dir, `ca-${serial}.csr`);
  run(["req", "-new", ...EC, "-keyout", ca.keyFile, "-out", csr, "-subj", `/CN=${cn}`]);
  run(["x509", "-req", "-in", csr, "-CA", parent.certFile, "-CAkey", parent.keyFile, "-set_serial", String(serial), "-days", "1000", "-out", ca.certFile, "-extfile", parent.cnf, "-extensions", "v3_ca"]);
  return ca;
}
