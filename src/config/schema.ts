/**
 * The one settings schema: every setting's type, default and parser. Names follow Puppet's settings
 * (lib/puppet/defaults.rb and puppetserver's ca.conf) where Puppet has one; the file spells them in snake_case,
 * the environment as FLEETCA_<UPPER_SNAKE>, flags as --kebab-case, and code as the camelCase fields below.
 */
import { availableParallelism, hostname } from "node:os";
import { authRules, type AuthRule } from "./auth-rules.js";
import {
  autosign,
  bool,
  certnameProblem,
  duration,
  hostProblem,
  integer,
  list,
  oneOf,
  path,
  storeUrl,
  text,
  urlOrNone,
  type Parser,
} from "./kinds.js";

export type { AuthAllow, AuthRule, HttpMethod } from "./auth-rules.js";

export type KeyType = "rsa" | "ec";
/** Curves by their WebCrypto / JOSE names; the OpenSSL names prime256v1 and secp384r1 are accepted and normalized. */
export type Curve = "P-256" | "P-384";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

/** Validated, frozen settings. Durations are whole seconds; paths are absolute. */
export interface Settings {
  /** CA directory (Puppet's layout: ca_crt.pem, ca_key.pem, signed/, requests/, inventory.txt...). */
  readonly cadir: string;
  /** Common name of the CA certificate made by setup. Default "Puppet CA: <certname>". */
  readonly caName: string;
  /** This host's certificate name: lower case (Puppet refuses upper case). Default: the host name, lower-cased. */
  readonly certname: string;
  /** Extra SANs for this host's certificate, as Puppet writes them ("puppet", "DNS:ca.example.com", "IP:10.0.0.1"). */
  readonly dnsAltNames: readonly string[];
  /** Lifetime of certificates the CA signs. Default 5 years. */
  readonly caTtl: number;
  /** RSA key size in bits. */
  readonly keylength: number;
  readonly keyType: KeyType;
  /** Curve for EC keys (Puppet's `named_curve`, which is accepted as another name for it). */
  readonly curve: Curve;
  /** false, true (sign everything), or the path of an allow-list file or policy executable. */
  readonly autosign: boolean | string;
  /** How long a policy executable may run before the CSR is left pending. */
  readonly autosignTimeout: number;
  readonly allowSubjectAltNames: boolean;
  readonly allowAuthorizationExtensions: boolean;
  readonly allowDuplicateCerts: boolean;
  /** Smallest RSA key, in bits, the CA signs; requests with smaller keys are refused at submission. */
  readonly minRsaKeySize: number;
  /** Curves (P-256, P-384, P-521, Ed25519, Ed448) whose keys the CA signs; others are refused at submission. */
  readonly allowedKeyCurves: readonly string[];
  /**
   * A CA key readable by others than its owner, or a CA directory others may write: "refuse" (default) to start
   * the server, or "warn" and start.
   */
  readonly caPermissions: "refuse" | "warn";
  /** URL written as the CRL distribution point of every certificate issued; "" (default, as Puppet) writes none. It must serve the CRL in DER. */
  readonly crlUrl: string;
  /** OCSP responder URL written in the authority information access of every certificate issued; "" (default) writes none. */
  readonly ocspUrl: string;
  /** URL of the CA certificate (DER) written in the authority information access as caIssuers; "" (default) writes none. */
  readonly caIssuersUrl: string;
  /** How long each CRL is valid (its nextUpdate). Default 5y: Puppet's hard-coded five years. */
  readonly crlTtl: number;
  /** When the server signs the CRL again because it is due, drop the entries of expired certificates too. */
  readonly autoPrune: boolean;
  /**
   * Listen address. Default 0.0.0.0, what operators of Puppet Server expect (it listens on all interfaces); tests
   * and development in a loopback-only place pass 127.0.0.1.
   */
  readonly bind: string;
  readonly port: number;
  /** "file:" for the Puppet layout under cadir, or a postgres:// URL. */
  readonly store: string;
  /** Certnames allowed to call the admin API, in addition to certificates carrying pp_cli_auth. */
  readonly adminAllowList: readonly string[];
  /** Largest CSR body the server reads. */
  readonly maxCsrBytes: number;
  /**
   * Flood protection (server/flood.ts): certificate submissions (PUT certificate_request, POST
   * certificate_renewal) each source address may make per second, on average; 0 turns the per-source limit off.
   */
  readonly csrRate: number;
  /** How many submissions a source may make at once before csr_rate paces it (the token bucket's size). */
  readonly csrBurst: number;
  /** Pending requests the CA holds at most; a submission beyond is refused with 503 until some are signed or dropped. 0: no cap. */
  readonly maxPendingRequests: number;
  /** Connection bounds (server/connections.ts): how long a TLS handshake may take before the connection is closed. */
  readonly handshakeTimeout: number;
  /** How long a connection may stay silent (after the handshake before its first request, or a response the client does not read). */
  readonly idleTimeout: number;
  /** How long a kept-alive connection may stay idle between two requests. */
  readonly keepAliveTimeout: number;
  /** How long the client may take to send a request's headers (408 after); at most request_timeout. */
  readonly headersTimeout: number;
  /** How long the client may take to send a whole request, headers and body (408 after: trickled bodies end here). */
  readonly requestTimeout: number;
  /** Open connections the server holds at most; more are closed as they arrive. */
  readonly maxConnections: number;
  /** Open connections one address (IPv6: one /64) may hold; 0: no per-address bound (behind a TCP load balancer). */
  readonly maxConnectionsPerAddress: number;
  /**
   * Server processes sharing the port (node:cluster), each with its own event loop on a core,
   * all on the one CA; 1 runs a single process. `auto`: one per core this process may use.
   */
  readonly workers: number;
  readonly logLevel: LogLevel;
  /** Agent: directory for this host's key, certificate, CA bundle and CRL. */
  readonly ssldir: string;
  /** Agent: the server to contact. */
  readonly server: string;
  /** Agent: the CA server. Default: `server`. */
  readonly caServer: string;
  /** Agent: the CA server's port. Default: `port`, as Puppet's defaults to $serverport. */
  readonly caPort: number;
  /** Agent: pause between polls for a signed certificate; 0 means do not wait (exit). */
  readonly waitforcert: number;
  /** Agent: give up waiting after this long; 0 means never give up (Puppet's "unlimited"). */
  readonly maxwaitforcert: number;
  /** Agent: renew when the certificate expires within this; 0 disables renewal. */
  readonly hostcertRenewalInterval: number;
  readonly caRefreshInterval: number;
  readonly crlRefreshInterval: number;
  /** Agent: YAML file of CSR attributes and extension requests. */
  readonly csrAttributes: string;
  /** Extra server authorization rules. */
  readonly authRules: readonly AuthRule[];
  /**
   * Who signs OCSP answers: "delegated" (default), a responder certificate the server issues
   * itself (id-kp-OCSPSigning, ocsp-nocheck) with its own key, kept in the ssldir and renewed
   * before it expires; or "ca", the CA key itself.
   */
  readonly ocspSigner: "ca" | "delegated";
  /** How long an OCSP answer is valid (thisUpdate to nextUpdate; HTTP max-age of GET answers). */
  readonly ocspTtl: number;
  /** Lifetime of the delegated responder certificate; it is renewed at two thirds of it. */
  readonly ocspSignerTtl: number;
  /** Key type of the delegated responder: "ec" (default: `curve`) or "rsa" (`keylength`). */
  readonly ocspSignerKeyType: KeyType;
}

export type SettingKey = keyof Settings;

interface SpecBase<T> {
  readonly parse: Parser<T>;
  /** Other snake_case names accepted for this setting, such as Puppet's spelling when ours differs. */
  readonly aliases?: readonly string[];
  /** The environment value is YAML (or JSON) text rather than a scalar. */
  readonly structured?: boolean;
}

/**
 * A setting either has a fixed default or derives it from other settings (ca_name from certname). A derivation may
 * read only settings that have fixed defaults.
 */
export type SettingSpec<T> = SpecBase<T> &
  ({ readonly default: T } | { readonly follows: SettingKey; readonly derive: (s: Settings) => T });

const YEAR = 365 * 24 * 3600;
const DAY = 24 * 3600;

const hostName = text("a host name", hostProblem);

/** What allowed_key_curves takes (ca/key-policy.ts). */
const KEY_CURVES = ["P-256", "P-384", "P-521", "Ed25519", "Ed448"];

/** A rate per second: a decimal number (0.5 is one every two seconds), 0 for no limit. */
const perSecond: Parser<number> = (raw) => {
  const n = typeof raw === "string" && /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n === "number" && Number.isFinite(n) && n >= 0 && n <= 1_000_000) return { value: n };
  return { expected: "a number of requests per second from 0 (no limit) to 1000000, such as 10 or 0.5" };
};

/** Server processes: 1 to 256, or `auto` (one per core: os.availableParallelism() follows taskset). */
const workerCount: Parser<number> = (raw, ctx) => {
  if (typeof raw === "string" && raw.trim() === "auto") return { value: availableParallelism() };
  const n = integer(1, 256)(raw, ctx);
  return "value" in n ? n : { expected: 'an integer from 1 to 256, or "auto" (one per core)' };
};

/** Every setting. The mapped type makes a setting without a spec, or a parser of the wrong type, a compile error. */
export const SPECS: { readonly [K in SettingKey]: SettingSpec<Settings[K]> } = {
  cadir: { parse: path("a directory path"), default: "/var/lib/fleetca/ca" },
  caName: { parse: text("a CA name"), follows: "certname", derive: (s) => `Puppet CA: ${s.certname}` },
  certname: { parse: text("a certname", certnameProblem), default: hostname().toLowerCase() },
  dnsAltNames: { parse: list("names", (s) => (/\s/.test(s) ? "no spaces" : undefined)), default: [] },
  caTtl: { parse: duration(1), default: 5 * YEAR },
  keylength: { parse: integer(2048, 16384), default: 4096 },
  keyType: { parse: oneOf<KeyType>(["rsa", "ec"]), default: "rsa" },
  curve: {
    parse: oneOf<Curve>(
      ["P-256", "P-384"],
      { prime256v1: "P-256", secp256r1: "P-256", p256: "P-256", secp384r1: "P-384", p384: "P-384" },
      '"prime256v1" (or "P-256") or "secp384r1" (or "P-384")',
    ),
    default: "P-256",
    aliases: ["named_curve"],
  },
  autosign: { parse: autosign, default: false },
  autosignTimeout: { parse: duration(1), default: 30 },
  allowSubjectAltNames: { parse: bool, default: false },
  allowAuthorizationExtensions: { parse: bool, default: false },
  allowDuplicateCerts: { parse: bool, default: false },
  // The same defaults as ca/key-policy.ts, which applies them.
  minRsaKeySize: { parse: integer(1024, 16384), default: 2048 },
  allowedKeyCurves: {
    parse: list("curves", (c) => (KEY_CURVES.includes(c) ? undefined : `one of ${KEY_CURVES.join(", ")}`)),
    default: ["P-256", "P-384", "P-521"],
  },
  caPermissions: { parse: oneOf<"refuse" | "warn">(["refuse", "warn"]), default: "refuse" },
  crlUrl: { parse: urlOrNone, default: "" },
  ocspUrl: { parse: urlOrNone, default: "" },
  caIssuersUrl: { parse: urlOrNone, default: "" },
  crlTtl: { parse: duration(60), default: 5 * YEAR },
  autoPrune: { parse: bool, default: false },
  bind: { parse: hostName, default: "0.0.0.0" },
  port: { parse: integer(1, 65535), default: 8140 },
  store: { parse: storeUrl, default: "file:" },
  adminAllowList: { parse: list("certnames", certnameProblem), default: [] },
  maxCsrBytes: { parse: integer(1024, 16 * 1024 * 1024), default: 64 * 1024 },
  csrRate: { parse: perSecond, default: 10 },
  csrBurst: { parse: integer(1, 1_000_000), default: 100 },
  maxPendingRequests: { parse: integer(0, 100_000_000), default: 10_000 },
  handshakeTimeout: { parse: duration(1), default: 10 },
  idleTimeout: { parse: duration(1), default: 30 },
  keepAliveTimeout: { parse: duration(1), default: 5 },
  headersTimeout: { parse: duration(1), default: 20 },
  requestTimeout: { parse: duration(1), default: 60 },
  maxConnections: { parse: integer(1, 1_000_000), default: 10_000 },
  maxConnectionsPerAddress: { parse: integer(0, 1_000_000), default: 1_000 },
  workers: { parse: workerCount, default: 1 },
  logLevel: { parse: oneOf<LogLevel>(["fatal", "error", "warn", "info", "debug", "trace"]), default: "info" },
  ssldir: { parse: path("a directory path"), default: "/var/lib/fleetca/ssl" },
  server: { parse: hostName, default: "puppet" },
  caServer: { parse: hostName, follows: "server", derive: (s) => s.server },
  caPort: { parse: integer(1, 65535), follows: "port", derive: (s) => s.port },
  waitforcert: { parse: duration(0), default: 120 },
  maxwaitforcert: { parse: duration(0, { unlimited: true }), default: 0 },
  hostcertRenewalInterval: { parse: duration(0), default: 30 * DAY },
  caRefreshInterval: { parse: duration(0), default: DAY },
  crlRefreshInterval: { parse: duration(0), default: DAY },
  csrAttributes: { parse: path(), default: "/etc/fleetca/csr_attributes.yaml" },
  authRules: { parse: authRules, default: [], structured: true },
  ocspSigner: { parse: oneOf<"ca" | "delegated">(["ca", "delegated"]), default: "delegated" },
  ocspTtl: { parse: duration(60), default: 3600 },
  ocspSignerTtl: { parse: duration(3600), default: 30 * DAY },
  ocspSignerKeyType: { parse: oneOf<KeyType>(["rsa", "ec"]), default: "ec" },
};

export const SETTING_KEYS = Object.keys(SPECS) as SettingKey[];

/** Fill derived settings (those no layer set) from the others. */
export function applyDerived(values: Partial<Record<SettingKey, unknown>>): Settings {
  const out: Record<string, unknown> = { ...values };
  for (const key of SETTING_KEYS) {
    const spec = SPECS[key] as SettingSpec<unknown>;
    if (out[key] === undefined && "derive" in spec) out[key] = spec.derive(out as unknown as Settings);
  }
  return out as unknown as Settings;
}

/** Deep Object.freeze: settings are shared by every layer and must not change under them. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function fixedDefaults(): Partial<Record<SettingKey, unknown>> {
  const out: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) {
    const spec = SPECS[key] as SettingSpec<unknown>;
    if ("default" in spec) out[key] = spec.default;
  }
  return out;
}

/** The built-in defaults, with the derived ones computed from them (ca_name "Puppet CA: <host name>"). */
export const DEFAULTS: Settings = deepFreeze(applyDerived(fixedDefaults()));

/** Fixed defaults only, for the loader: derived settings stay unset so they follow the final certname/server/port. */
export const FIXED_DEFAULTS: Readonly<Partial<Record<SettingKey, unknown>>> = deepFreeze(fixedDefaults());

/** The file's name for a setting: caTtl -> ca_ttl. */
export function fileName(key: SettingKey): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The environment variable for a setting: caTtl -> FLEETCA_CA_TTL. */
export function envName(key: SettingKey): string {
  return `FLEETCA_${fileName(key).toUpperCase()}`;
}

/** The command-line flag for a setting: caTtl -> --ca-ttl. */
export function flagName(key: SettingKey): string {
  return `--${fileName(key).replace(/_/g, "-")}`;
}
