/**
 * The Puppet CA API v1 as the agent uses it. Every method returns a typed Result and never prints or throws for
 * an HTTP or TLS outcome; the state machine decides what each outcome means.
 */
import { Transport, type HostPort, type Identity, type Result, type Trust } from "./transport.js";

export type { Failure, HostPort, Identity, PeerInfo, Result, Trust } from "./transport.js";

const BASE = "/puppet-ca/v1";

/** A fetched document, or word that the copy we hold is still current (HTTP 304). */
export type Fetched = { notModified: false; pem: string } | { notModified: true };

/** What the state machine needs from the CA (declared here, used there; tests substitute an in-process CA). */
export interface CaApi {
  readonly caUrl: string;
  readonly serverUrl: string;
  fetchCaBundleUnverified(): Promise<Result<{ pem: string; peer?: Buffer }>>;
  refreshCaBundle(trust: Trust, since?: Date): Promise<Result<Fetched>>;
  getCrl(trust: Trust, since?: Date): Promise<Result<Fetched>>;
  getCertificateRequest(trust: Trust, name: string): Promise<Result<string>>;
  submitCertificateRequest(trust: Trust, name: string, csrPem: string): Promise<Result<void>>;
  getCertificate(trust: Trust, name: string): Promise<Result<string>>;
  renewCertificate(trust: Trust, identity: Identity): Promise<Result<string>>;
  probeMutualTls(trust: Trust, identity: Identity): Promise<Result<{ status: number }>>;
}

export interface CaClientOptions {
  /** Where the CA API lives (ca_server:ca_port). */
  ca: HostPort;
  /** The server this node will talk to once enrolled (server:port): the mutual-TLS check goes there. */
  server: HostPort;
  timeoutMs?: number;
}

export class CaClient implements CaApi {
  private readonly transport: Transport;

  constructor(private readonly opts: CaClientOptions) {
    this.transport = new Transport(opts.timeoutMs);
  }

  /** For messages: https://ca:8140/puppet-ca/v1 */
  get caUrl(): string {
    return `https://${hostForUrl(this.opts.ca.host)}:${this.opts.ca.port}${BASE}`;
  }

  get serverUrl(): string {
    return `https://${hostForUrl(this.opts.server.host)}:${this.opts.server.port}`;
  }

  /** First contact: the CA bundle from a server we cannot verify yet; `peer` is its TLS certificate. */
  async fetchCaBundleUnverified(): Promise<Result<{ pem: string; peer?: Buffer }>> {
    const r = await this.transport.request({ target: this.opts.ca, method: "GET", path: `${BASE}/certificate/ca` });
    return r.ok ? { ok: true, value: { pem: r.value.body, peer: r.value.peer } } : r;
  }

  /** The CA bundle again over a connection pinned to the saved one (ca_refresh_interval). */
  refreshCaBundle(trust: Trust, since?: Date): Promise<Result<Fetched>> {
    return this.getConditional(trust, `${BASE}/certificate/ca`, since);
  }

  getCrl(trust: Trust, since?: Date): Promise<Result<Fetched>> {
    return this.getConditional(trust, `${BASE}/certificate_revocation_list/ca`, since);
  }

  /** The CSR the CA holds for `name`; a not-found failure when it holds none. */
  async getCertificateRequest(trust: Trust, name: string): Promise<Result<string>> {
    return this.text(await this.transport.request({ target: this.opts.ca, method: "GET", path: `${BASE}/certificate_request/${encodeURIComponent(name)}`, trust }));
  }

  async submitCertificateRequest(trust: Trust, name: string, csrPem: string): Promise<Result<void>> {
    const r = await this.transport.request({
      target: this.opts.ca,
      method: "PUT",
      path: `${BASE}/certificate_request/${encodeURIComponent(name)}`,
      headers: { "Content-Type": "text/plain" },
      body: csrPem,
      trust,
    });
    return r.ok ? { ok: true, value: undefined } : r;
  }

  /** The signed certificate for `name`; a not-found failure while it is unsigned. */
  async getCertificate(trust: Trust, name: string): Promise<Result<string>> {
    return this.text(await this.transport.request({ target: this.opts.ca, method: "GET", path: `${BASE}/certificate/${encodeURIComponent(name)}`, trust }));
  }

  /** A fresh certificate for the one we authenticate with (newer Puppet Servers and fleetca). */
  async renewCertificate(trust: Trust, identity: Identity): Promise<Result<string>> {
    return this.text(
      await this.transport.request({
        target: this.opts.ca,
        method: "POST",
        path: `${BASE}/certificate_renewal`,
        headers: { "Content-Type": "text/plain" },
        body: "",
        trust,
        identity,
      }),
    );
  }

  /**
   * One request to the server that only an authenticated client may make (`expirations`), proving that the
   * server trusts this node's certificate and this node trusts the server's.
   */
  async probeMutualTls(trust: Trust, identity: Identity): Promise<Result<{ status: number }>> {
    const r = await this.transport.request({ target: this.opts.server, method: "GET", path: `${BASE}/expirations`, headers: { Accept: "application/json" }, trust, identity });
    return r.ok ? { ok: true, value: { status: r.value.status } } : r;
  }

  close(): void {
    this.transport.close();
  }

  private async getConditional(trust: Trust, path: string, since?: Date): Promise<Result<Fetched>> {
    const headers = since ? { "If-Modified-Since": since.toUTCString() } : undefined;
    const r = await this.transport.request({ target: this.opts.ca, method: "GET", path, headers, trust });
    if (!r.ok) return r;
    return { ok: true, value: r.value.status === 304 ? { notModified: true } : { notModified: false, pem: r.value.body } };
  }

  private text(r: Result<{ body: string }>): Result<string> {
    return r.ok ? { ok: true, value: r.value.body } : r;
  }
}

const hostForUrl = (h: string): string => (h.includes(":") ? `[${h}]` : h);
