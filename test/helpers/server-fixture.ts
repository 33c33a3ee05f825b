/**
 * An in-process CA server for inject tests: an EC P-256 CA (fast) in a MemoryStore, an
 * admin certificate (pp_cli_auth) and a plain agent certificate, and a peer source that
 * reads the "client certificate" from test headers instead of a TLS socket.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { Writable } from "node:stream";
import { CertificateAuthority } from "../../src/ca/authority.js";
import type { Autosigner } from "../../src/ca/autosign.js";
import { generateCertificate } from "../../src/ca/generate.js";
import { systemPrincipal, type Principal } from "../../src/ca/principal.js";
import { setupCa } from "../../src/ca/setup.js";
import { loadSettings, type Settings } from "../../src/config/index.js";
import { certToPem, issueCertificate, parseCertificateDer } from "../../src/pki/certificate.js";
import { buildCsr, csrToPem, type CsrOptions } from "../../src/pki/csr.js";
import { generateKeyPair, privateKeyToPem, spkiDer } from "../../src/pki/keys.js";
import { cnName } from "../../src/pki/name.js";
import { leafExtensions } from "../../src/pki/profile.js";
import { buildApp } from "../../src/server/app.js";
import type { PeerSource } from "../../src/server/client.js";
import type { ServerDeps } from "../../src/server/deps.js";
import { auditLogger, createLogger } from "../../src/server/log.js";
import { MemoryStore } from "./memory-store.js";
import assert from "node:assert/strict";
import { verifyWithCrl } from "./openssl.js";

export const EC = { type: "ec", curve: "P-256" } as const;

/** Who acts when a test calls the CA directly. */
export const TEST_BY: Principal = systemPrincipal("test", "test");

export interface Identity {
  name: string;
  certPem: string;
  keyPem: string;
  der: Buffer;
}

/** Test-only peer source: base64 DER in x-test-peer; x-test-tls-verified: 0 simulates a failed TLS check. */
export const headerPeer: PeerSource = (request) => {
  const b64 = request.headers["x-test-peer"];
  if (typeof b64 !== "string") return undefined;
  return { der: Buffer.from(b64, "base64"), tlsVerified: request.headers["x-test-tls-verified"] !== "0" };
};

export function as(id: Identity | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return id ? { "x-test-peer": id.der.toString("base64"), ...extra } : { ...extra };
}

export function testSettings(flags: Record<string, unknown> = {}): Settings {
  return loadSettings({ file: null, env: {}, flags: { cadir: "/nonexistent/ca", certname: "ca.test", keyType: "ec", ...flags } });
}

export interface Fixture {
  app: FastifyInstance;
  ca: CertificateAuthority;
  store: MemoryStore;
  deps: ServerDeps;
  settings: Settings;
  logs: Record<string, unknown>[];
  admin: Identity;
  agent: Identity;
  issue(name: string, opts?: { cliAuth?: boolean }): Promise<Identity>;
}

export function memoryLogger(level: Settings["logLevel"] = "info") {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logs, log: createLogger(level, sink) };
}

/** `autosigner` may be a factory, for adapters that log (host/autosign.ts). */
export async function makeFixture(flags: Record<string, unknown> = {}, autosigner?: Autosigner | ((log: Logger) => Autosigner)): Promise<Fixture> {
  const settings = testSettings(flags);
  const store = new MemoryStore();
  await setupCa(store, { caName: "Puppet CA: ca.test", key: EC, caTtl: settings.caTtl, now: new Date() });
  const { logs, log } = memoryLogger();
  const signer = typeof autosigner === "function" ? autosigner(log) : autosigner;
  const ca = new CertificateAuthority({ store, settings, autosigner: signer, observe: auditLogger(log) });
  const issue = async (name: string, opts: { cliAuth?: boolean } = {}): Promise<Identity> => {
    const g = await generateCertificate(ca, name, { by: TEST_BY, key: EC, cliAuth: opts.cliAuth });
    return { name, certPem: g.certPem, keyPem: g.keyPem, der: g.cert.der };
  };
  const admin = await issue("admin.test", { cliAuth: true });
  const agent = await issue("agent.test");
  const deps: ServerDeps = { ca, settings, log, peer: headerPeer };
  const app = buildApp(deps);
  await app.ready();
  return { app, ca, store, deps, settings, logs, admin, agent, issue };
}

/** A fresh EC key and its CSR, PEM. */
export async function makeCsr(commonName: string, opts: Omit<CsrOptions, "commonName"> = {}): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateKeyPair(EC);
  const der = await buildCsr({ commonName, ...opts }, keys.privateKey, keys.publicKey);
  return { csrPem: csrToPem(der), keyPem: keys.privateKey.export({ format: "pem", type: "pkcs8" }) as string };
}

export const V1 = "/puppet-ca/v1";

/** PUT certificate_request/NAME as an agent does (no client certificate). */
export function putCsr(f: Fixture, name: string, csrPem: string) {
  return f.app.inject({ method: "PUT", url: `${V1}/certificate_request/${name}`, payload: csrPem, headers: { "content-type": "text/plain" } });
}

/** Every certificate a test obtains must pass `openssl verify -crl_check` against the CA's current CRL. */
export async function assertOpensslVerifies(f: Fixture, certPem: string): Promise<void> {
  const r = verifyWithCrl(await f.ca.caCertificatePem(), await f.ca.crlPem(), certPem);
  assert.ok(r.ok, r.out);
}

/** A certificate with `name` (pp_cli_auth when asked) from another CA, made now. */
export async function foreignIdentity(name: string, opts: { cliAuth?: boolean } = {}): Promise<Identity> {
  const store = new MemoryStore();
  await setupCa(store, { caName: `Puppet CA: other ${name}`, key: EC, caTtl: 86400 * 365, now: new Date() });
  const other = new CertificateAuthority({ store, settings: testSettings() });
  const g = await generateCertificate(other, name, { by: TEST_BY, key: EC, cliAuth: opts.cliAuth });
  return { name, certPem: g.certPem, keyPem: g.keyPem, der: g.cert.der };
}

/**
 * A certificate signed with this CA's key whose validity ended a day ago (the CA itself never
 * issues one: it is made from the profile directly). Its serial is never handed out by the CA.
 */
export async function expiredIdentity(ca: CertificateAuthority, name: string, opts: { cliAuth?: boolean; serial?: bigint } = {}): Promise<Identity> {
  const now = Date.now();
  return datedIdentity(ca, name, new Date(now - 3 * 86_400_000), new Date(now - 86_400_000), { serial: 0x7e57e7n, ...opts });
}

/** The same, valid only from tomorrow. */
export async function notYetValidIdentity(ca: CertificateAuthority, name: string, opts: { cliAuth?: boolean; serial?: bigint } = {}): Promise<Identity> {
  const now = Date.now();
  return datedIdentity(ca, name, new Date(now + 86_400_000), new Date(now + 3 * 86_400_000), { serial: 0x7e57f7n, ...opts });
}

async function datedIdentity(ca: CertificateAuthority, name: string, notBefore: Date, notAfter: Date, opts: { cliAuth?: boolean; serial: bigint }): Promise<Identity> {
  const material = await ca.current();
  const keys = await generateKeyPair(EC);
  const spki = spkiDer(keys.publicKey);
  const der = await issueCertificate(
    {
      serial: opts.serial,
      issuer: material.cert.subjectDer,
      subject: cnName(name),
      notBefore,
      notAfter,
      spki,
      extensions: leafExtensions({
        commonName: name, spki, altNames: [], copied: [], caSpki: material.cert.spki, caIssuerDer: material.cert.issuerDer,
        caSerial: material.cert.serial, cliAuth: opts.cliAuth,
      }),
    },
    material.key!,
  );
  return { name, certPem: certToPem(der), keyPem: privateKeyToPem(keys.privateKey), der: parseCertificateDer(der).der };
}
