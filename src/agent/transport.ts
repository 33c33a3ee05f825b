/**
 * One HTTPS exchange with typed outcomes: the client above never sees an exception for a refused connection, an
 * untrusted server or a 404; it gets a value saying which of those happened, and the state machine decides.
 */
import https from "node:https";
import tls from "node:tls";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** What a pinned connection trusts: the saved CA bundle, and the CRL when we have one. */
export interface Trust {
  readonly caPem: string;
  readonly crlPem?: string;
}

/** This node's credentials for mutual TLS. */
export interface Identity {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The server's certificate as seen on the wire, for messages. */
export interface PeerInfo {
  subject: string;
  issuer: string;
  fingerprint256: string;
  der?: Buffer;
}

export type Failure =
  | { kind: "not-found"; status: 404; message: string }
  | { kind: "http"; status: number; message: string }
  /** The server's certificate does not chain to the saved CA. */
  | { kind: "untrusted-server"; code: string; message: string; peer?: PeerInfo }
  | { kind: "server-name-mismatch"; message: string; peer?: PeerInfo }
  /** The server's certificate is revoked, expired, not yet valid… (by OpenSSL's clock and our CRL). */
  | { kind: "server-cert"; code: string; message: string; peer?: PeerInfo }
  /** The server ended the handshake because of our client certificate (revoked, unknown CA, required). */
  | { kind: "client-cert-refused"; code: string; message: string }
  | { kind: "network"; code: string; message: string };

export type Result<T> = { ok: true; value: T } | { ok: false; failure: Failure };

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The server's leaf certificate (DER), captured on the connection that answered. */
  peer?: Buffer;
}

export interface RequestSpec {
  target: HostPort;
  method: "GET" | "PUT" | "POST";
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Undefined: first contact, server not verified (trust on first use). */
  trust?: Trust;
  identity?: Identity;
}

const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
]);
const SERVER_CERT = new Set(["CERT_REVOKED", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "UNABLE_TO_GET_CRL", "CRL_HAS_EXPIRED", "CRL_NOT_YET_VALID"]);
/** Response bodies larger than this are refused (a CRL of 100,000 entries is about 5 MB). */
const MAX_BODY = 64 * 1024 * 1024;

export class Transport {
  private readonly agent = new https.Agent({ keepAlive: true, maxSockets: 4 });

  constructor(
    private readonly timeoutMs = 30_000,
    private readonly userAgent = "fleetca-agent",
  ) {}

  request(spec: RequestSpec): Promise<Result<RawResponse>> {
    return new Promise((resolve) => {
      const headers: Record<string, string> = { "User-Agent": this.userAgent, Accept: "text/plain", ...spec.headers };
      if (spec.body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(spec.body));
      const req = https.request(
        {
          host: spec.target.host,
          port: spec.target.port,
          method: spec.method,
          path: spec.path,
          headers,
          agent: this.agent,
          timeout: this.timeoutMs,
          rejectUnauthorized: spec.trust !== undefined,
          ca: spec.trust?.caPem,
          // One entry per CRL: given one string, Node loads only its first CRL, and a Puppet CA with an
          // intermediate serves a bundle (the intermediate's CRL, then the root's) that must all be checked.
          crl: spec.trust?.crlPem ? splitCrls(spec.trust.crlPem) : undefined,
          cert: spec.identity?.certPem,
          key: spec.identity?.keyPem,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const peer = (res.socket as tls.TLSSocket).getPeerCertificate?.(false)?.raw;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY) req.destroy(Object.assign(new Error("the response is too large"), { code: "ETOOLARGE" }));
            else chunks.push(c);
          });
          res.on("end", () => {
            const body = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if ((status >= 200 && status < 300) || status === 304) resolve({ ok: true, value: { status, headers: res.headers, body, peer } });
            else if (status === 404) resolve({ ok: false, failure: { kind: "not-found", status: 404, message: body.trim() } });
            else resolve({ ok: false, failure: { kind: "http", status, message: body.trim() || `HTTP ${status}` } });
          });
          res.on("error", (e) => resolve({ ok: false, failure: networkFailure(e) }));
        },
      );
      req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs / 1000}s`), { code: "ETIMEDOUT" })));
      req.on("error", (e) => {
        void classify(e as NodeJS.ErrnoException & { cert?: tls.PeerCertificate }, spec).then((failure) => resolve({ ok: false, failure }));
      });
      req.end(spec.body);
    });
  }

  /** Closes kept-alive connections so the process can exit. */
  close(): void {
    this.agent.destroy();
  }
}

/** The PEM CRLs in a bundle, each on its own (the whole text when it holds none, so OpenSSL reports it). */
export function splitCrls(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g);
  return blocks && blocks.length > 0 ? blocks.map((b) => `${b}\n`) : [pem];
}

function networkFailure(e: NodeJS.ErrnoException): Failure {
  return { kind: "network", code: e.code ?? "EIO", message: e.message };
}

async function classify(e: NodeJS.ErrnoException & { cert?: tls.PeerCertificate }, spec: RequestSpec): Promise<Failure> {
  const code = e.code ?? "";
  if (UNTRUSTED.has(code)) return { kind: "untrusted-server", code, message: e.message, peer: await peekPeer(spec.target) };
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return { kind: "server-name-mismatch", message: e.message, peer: e.cert ? peerInfo(e.cert) : undefined };
  // With our CRL in play OpenSSL may report a missing CRL before an unknown issuer; the peer tells which it is.
  if (SERVER_CERT.has(code)) return { kind: "server-cert", code, message: e.message, peer: await peekPeer(spec.target) };
  // Alerts the server sends about our certificate arrive as ERR_SSL_*_ALERT_* errors.
  if (spec.identity && /^ERR_SSL_.*ALERT/.test(code)) return { kind: "client-cert-refused", code, message: e.message };
  return networkFailure(e);
}

function peerInfo(c: tls.PeerCertificate): PeerInfo {
  const name = (n: tls.Certificate | undefined) =>
    n ? Object.entries(n).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : String(v)}`).join(",") : "?";
  return { subject: name(c.subject), issuer: name(c.issuer), fingerprint256: c.fingerprint256, der: c.raw };
}

/**
 * A failed verification leaves no peer certificate to look at, so open a second, unverified connection just to
 * read it for the error message. Nothing is sent on it.
 */
function peekPeer(target: HostPort): Promise<PeerInfo | undefined> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: target.host, port: target.port, rejectUnauthorized: false, timeout: 5000 }, () => {
      const c = s.getPeerCertificate(false);
      s.destroy();
      resolve(c && c.raw ? peerInfo(c) : undefined);
    });
    s.on("error", () => resolve(undefined));
    s.on("timeout", () => {
      s.destroy();
      resolve(undefined);
    });
  });
}
