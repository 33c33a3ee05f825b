/** How `fleetca agent` words what the agent did: one line per event, and errors with the commands that fix them. */
import type { AgentError, AgentErrorKind, Remedy } from "../agent/errors.js";
import type { AgentEvent } from "../agent/states.js";
import { Exit } from "./exit-codes.js";
import type { Io } from "./io.js";

/** Exit code per failure kind; a Record so a new kind without a code does not compile. */
export const AGENT_EXIT: Readonly<Record<AgentErrorKind, number>> = {
  "not-signed": Exit.NOT_SIGNED,
  "timed-out": Exit.TIMED_OUT,
  "key-mismatch": Exit.KEY_MISMATCH,
  "ca-changed": Exit.CA_CHANGED,
  "ca-pin-mismatch": Exit.CA_CHANGED,
  "untrusted-cert": Exit.CA_CHANGED,
  revoked: Exit.REVOKED,
  "not-yet-valid": Exit.VALIDITY,
  expired: Exit.EXPIRED,
  unavailable: Exit.UNAVAILABLE,
  "server-name-mismatch": Exit.UNAVAILABLE,
  rejected: Exit.FAILED,
  "server-refused": Exit.FAILED,
  missing: Exit.FAILED,
  "invalid-file": Exit.FAILED,
};

const day = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, "Z");
const secs = (n: number): string => (n === 0 ? "unlimited" : `${n}s`);

/** One line for an event: [stream, text]. Warnings go to stderr so stdout stays the record of steps. */
export function eventLine(e: AgentEvent): ["out" | "err", string] {
  switch (e.type) {
    case "ca": {
      const id = `"${e.subject}" (SHA256 ${e.fingerprint})`;
      if (e.action === "fetched") return ["out", `CA certificate: fetched ${id} from ${e.url}, ${e.pinned ? "matches --ca-fingerprint" : "trusted on first use: compare it with `fleetca ca fingerprint ca` on the CA"}`];
      if (e.action === "loaded") return ["out", `CA certificate: using the saved ${id}`];
      return ["out", `CA certificate: ${e.action === "refreshed" ? "refreshed" : "still current"} ${id} (checked ${e.url})`];
    }
    case "crl": {
      const n = `${e.revoked} revoked`;
      if (e.action === "fetched") return ["out", `CRL: fetched from ${e.url} (${n})`];
      if (e.action === "loaded") return ["out", `CRL: using the saved CRL (${n})`];
      return ["out", `CRL: ${e.action === "refreshed" ? "refreshed" : "still current"} (${n}, checked ${e.url})`];
    }
    case "refresh-failed":
      return ["err", `Warning: could not refresh the ${e.what}; using the saved one. ${e.reason}`];
    case "key":
      return ["out", e.action === "created" ? `Private key: created a new ${e.description} key in ${e.path}` : `Private key: using ${e.path} (${e.description})`];
    case "cert-on-disk":
      return ["out", e.found ? `Certificate: found ${e.path}` : `Certificate: none yet in ${e.path}`];
    case "csr": {
      const fp = `fingerprint (SHA256) ${e.fingerprint}`;
      const attrs = e.attributesFile ? `, with attributes from ${e.attributesFile}` : "";
      if (e.action === "on-disk") return ["out", `Certificate request: already submitted (saved copy), not sending it again; ${fp}`];
      if (e.action === "forgotten") return ["out", `Certificate request: the CA already holds one for this node; downloaded it, not resubmitted; ${fp}`];
      if (e.action === "duplicate") return ["out", `Certificate request: the CA answered "${e.note}"; looking for the certificate${attrs}`];
      return ["out", `Certificate request: submitted to ${e.url}${attrs}; ${fp}`];
    }
    case "not-signed": {
      if (e.reason) return ["err", `Warning: ${e.reason}${e.nextInSeconds !== undefined ? ` Trying again in ${e.nextInSeconds}s.` : ""}`];
      const head = `Certificate for ${e.certname} has not been signed yet`;
      if (e.nextInSeconds === undefined) return ["out", `${head} (waited ${e.waitedSeconds}s)`];
      return ["out", `${head}; checking again in ${e.nextInSeconds}s (waited ${e.waitedSeconds}s of ${secs(e.maxSeconds)})`];
    }
    case "cert-downloaded":
      return ["out", `Certificate: downloaded from ${e.url} (serial ${e.serial}, valid until ${day(e.notAfter)}, SHA256 ${e.fingerprint})`];
    case "renewal":
      if (e.action === "renewing") return ["out", `Certificate: expires ${day(e.notAfter)}${e.asked ? "; renewing as asked" : ", within the renewal interval; renewing"}`];
      if (e.action === "renewed") return ["out", `Certificate: renewed, now valid until ${day(e.notAfter)}`];
      return ["err", `Warning: renewal failed; keeping the current certificate (valid until ${day(e.notAfter)}). ${e.reason ?? ""}`.trimEnd()];
    case "verified": {
      const tls = e.mutualTls === "proven" ? `mutual TLS with ${e.url} OK` : `connected to ${e.url} (it has no endpoint that confirms mutual TLS)`;
      return ["out", `Verified: ${e.subject} issued by ${e.issuer}, serial ${e.serial}, valid until ${day(e.notAfter)}; ${tls}`];
    }
  }
}

export function printEvent(io: Io, e: AgentEvent): void {
  const [stream, line] = eventLine(e);
  if (stream === "out") io.out(line);
  else io.err(line);
}

/** The flags that locate this node's files and server, as the user typed them, for the fix commands. */
export interface FixContext {
  certname: string;
  /** e.g. " --ssldir /x --certname n" (leading space, or empty). */
  nodeFlags: string;
  /** e.g. " --server ca.example.com --port 8140". */
  serverFlags: string;
  /** Bootstrap's own flags as typed (" --waitforcert 0 --key-type ec"), repeated in a bootstrap fix. */
  enrollFlags?: string;
  /** " --ca-fingerprint FP" when one was typed (dropped where the fix needs the new CA's). */
  pinFlag?: string;
}

function remedyLine(r: Remedy, f: FixContext): string {
  if ("note" in r) return `  ${r.note}`;
  if (r.on === "ca" && r.action === "fingerprint-ca") {
    return "  on the CA server:  fleetca ca fingerprint ca   (Puppet Server: openssl x509 -noout -fingerprint -sha256 -in \"$(puppet config print cacert --section server)\")";
  }
  if (r.on === "ca") {
    // The same fix on a Puppet Server CA, which speaks the same protocol.
    if (r.action === "clean") return `  on the CA server:  fleetca ca clean ${r.certname}   (Puppet Server: puppetserver ca clean --certname ${r.certname})`;
    if (r.action === "sign") return `  on the CA server:  fleetca ca sign ${r.certname}   (Puppet Server: puppetserver ca sign --certname ${r.certname})`;
    return `  on the CA server:  fleetca ca sign --allow-dns-alt-names ${r.certname}   (Puppet Server: set allow-subject-alt-names: true in ca.conf, restart it, then puppetserver ca sign --certname ${r.certname})`;
  }
  switch (r.action) {
    case "clean":
      return `  on this node:      fleetca agent clean${f.nodeFlags}`;
    case "clean-all":
      return `  on this node:      fleetca agent clean --all${f.nodeFlags}`;
    case "bootstrap":
      return `  on this node:      fleetca agent bootstrap${f.serverFlags}${f.nodeFlags}${f.enrollFlags ?? ""}${f.pinFlag ?? ""}`;
    case "bootstrap-pinned":
      return `  on this node:      fleetca agent bootstrap${f.serverFlags}${f.nodeFlags}${f.enrollFlags ?? ""} --ca-fingerprint <new CA fingerprint>`;
    case "check-clock":
      return "  on this node:      check the clock (timedatectl status, or chronyc tracking), turn on NTP (timedatectl set-ntp true), then run the command again";
  }
}

/** Prints the error, its facts, and the fix; returns the exit code. */
export function printAgentError(io: Io, e: AgentError, f: FixContext): number {
  io.err(`Error: ${e.message}`);
  for (const d of e.details) io.err(`  ${d}`);
  if (e.remedies.length > 0) {
    io.err("To fix this:");
    for (const r of e.remedies) io.err(remedyLine(r, f));
  }
  return AGENT_EXIT[e.kind];
}
