/**
 * The bootstrap as an explicit state machine, one state per step of the seed's "Gory Details":
 *   NeedCACerts -> NeedCRL (step 1) -> NeedKey (2) -> NeedCert (3) -> NeedCSR (4) -> NeedSignedCert (5)
 *   -> Verify (6) -> Done, with NotSigned/Wait between polls, Renew when the certificate nears expiry, and Error.
 * A step returns the next state; only the driver sleeps, decides to stop waiting, or ends the run.
 */
import type { KeyObject } from "node:crypto";
import type { ParsedCertificate } from "../pki/certificate.js";
import type { ParsedCsr } from "../pki/csr.js";
import type { KeySpec } from "../pki/keys.js";
import type { CaApi } from "./client.js";
import type { AgentError } from "./errors.js";
import type { Ssldir } from "./ssldir.js";
import type { CaBundle, TrustMaterial } from "./trust.js";

export interface LoadedKey {
  readonly privateKey: KeyObject;
  readonly pem: string;
  readonly spki: Buffer;
}

export type State =
  | { name: "NeedCACerts" }
  | { name: "NeedCRL"; bundle: CaBundle }
  | { name: "NeedKey"; trust: TrustMaterial }
  | { name: "NeedCert"; trust: TrustMaterial; key: LoadedKey }
  | { name: "NeedCSR"; trust: TrustMaterial; key: LoadedKey }
  | { name: "NeedSignedCert"; trust: TrustMaterial; key: LoadedKey; csr: ParsedCsr; since: Date }
  /** The CA has not signed yet (or could not be asked: `reason`); the driver decides whether to wait. */
  | { name: "NotSigned"; retry: Extract<State, { name: "NeedSignedCert" }>; reason?: string }
  | { name: "Wait"; seconds: number; then: Extract<State, { name: "NeedSignedCert" }> }
  | { name: "Verify"; trust: TrustMaterial; key: LoadedKey; cert: ParsedCertificate; certPem: string; renewed: boolean }
  | { name: "Renew"; trust: TrustMaterial; key: LoadedKey; cert: ParsedCertificate; certPem: string }
  | { name: "Done"; trust: TrustMaterial; cert: ParsedCertificate }
  | { name: "Error"; error: AgentError };

export type StateName = State["name"];

/** What happened, one event per step; the CLI turns each into one line. Never printed below the CLI. */
export type AgentEvent =
  | { type: "ca"; action: "loaded" | "fetched" | "refreshed" | "current"; subject: string; fingerprint: string; url?: string; pinned?: boolean }
  | { type: "crl"; action: "loaded" | "fetched" | "refreshed" | "current"; revoked: number; url?: string }
  | { type: "refresh-failed"; what: "CA certificate" | "CRL"; reason: string }
  | { type: "key"; action: "loaded" | "created"; description: string; path: string }
  | { type: "cert-on-disk"; found: boolean; path: string }
  | { type: "csr"; action: "on-disk" | "forgotten" | "submitted" | "duplicate"; fingerprint: string; url: string; note?: string; attributesFile?: string }
  | { type: "not-signed"; certname: string; waitedSeconds: number; nextInSeconds?: number; maxSeconds: number; reason?: string }
  | { type: "cert-downloaded"; serial: string; notAfter: Date; fingerprint: string; url: string }
  /** `asked`: `fleetca agent renew`, rather than the certificate nearing expiry. */
  | { type: "renewal"; action: "renewing" | "renewed" | "failed"; notAfter: Date; reason?: string; asked?: boolean }
  | { type: "verified"; subject: string; issuer: string; serial: string; notAfter: Date; fingerprint: string; mutualTls: "proven" | "unconfirmed"; url: string };

export interface AgentOptions {
  certname: string;
  waitforcert: number;
  /** Seconds; 0 waits forever. */
  maxwaitforcert: number;
  hostcertRenewalInterval: number;
  caRefreshInterval: number;
  crlRefreshInterval: number;
  dnsAltNames: readonly string[];
  csrAttributesFile: string;
  keySpec: KeySpec;
  /** Pin for first contact (canonical form); without it the first CA certificate is trusted on first use. */
  caFingerprint?: string;
  /** "renew" asks for a new certificate even outside the renewal window, and needs one to exist. */
  mode: "bootstrap" | "renew";
}

export type Clock = () => Date;
export type Sleep = (ms: number) => Promise<void>;

export interface AgentDeps {
  clock: Clock;
  sleep: Sleep;
  emit: (e: AgentEvent) => void;
}

/** Everything a step may use. */
export interface StepContext {
  opts: AgentOptions;
  deps: AgentDeps;
  ssldir: Ssldir;
  client: CaApi;
}
