/**
 * The agent's CaApi answered by a real CertificateAuthority in memory: no sockets, so the state machine's
 * branches run in milliseconds. The real-TLS tests (agent-server.test.ts) cover the transport.
 */
import { localPrincipal } from "../../src/ca/principal.js";
import { CertificateAuthority } from "../../src/ca/authority.js";
import { AUTOSIGN_OFF, AUTOSIGN_ON } from "../../src/ca/autosign.js";
import { isCaError } from "../../src/ca/errors.js";
import { generateCertificate } from "../../src/ca/generate.js";
import { setupCa } from "../../src/ca/setup.js";
import type { CaApi, Failure, Fetched, Identity, Result, Trust } from "../../src/agent/client.js";
import { certToPem, parseCertificatePem } from "../../src/pki/certificate.js";
import { MemoryStore } from "./memory-store.js";

const ACTOR = localPrincipal("test", "test");
const YEAR = 365 * 86400;

function fail(e: unknown): { ok: false; failure: Failure } {
  if (!isCaError(e)) throw e;
  if (e.kind === "not-found") return { ok: false, failure: { kind: "not-found", status: 404, message: e.message } };
  return { ok: false, failure: { kind: "http", status: e.kind === "conflict" ? 409 : 400, message: e.message } };
}

export class FakeCa implements CaApi {
  readonly caUrl = "https://ca.test:8140/puppet-ca/v1";
  readonly serverUrl = "https://ca.test:8140";
  /** Every API call by name, in order. */
  readonly calls: string[] = [];
  /** The TLS certificate the "server" presents on first contact. */
  peerDer?: Buffer;
  /** When set, every pinned call fails this way (CA changed, network down…). */
  pinnedFailure?: Failure;
  probeFailure?: Failure;
  renewFailure?: Failure;
  submitFailure?: Failure;

  private constructor(
    readonly ca: CertificateAuthority,
    readonly store: MemoryStore,
  ) {}

  static async create(opts: { autosign?: boolean; caTtl?: number; now?: Date } = {}): Promise<FakeCa> {
    const store = new MemoryStore();
    const now = opts.now ?? new Date();
    await setupCa(store, { caName: "Puppet CA: ca.test", key: { type: "ec", curve: "P-256" }, caTtl: 10 * YEAR, now });
    const settings = { caTtl: opts.caTtl ?? 5 * YEAR, allowSubjectAltNames: false, allowAuthorizationExtensions: false, allowDuplicateCerts: false };
    const ca = new CertificateAuthority({ store, settings, autosigner: opts.autosign ? AUTOSIGN_ON : AUTOSIGN_OFF, clock: () => now });
    const fake = new FakeCa(ca, store);
    const server = await generateCertificate(ca, "ca.test", { by: ACTOR, key: { type: "ec", curve: "P-256" }, cliAuth: true });
    fake.peerDer = server.cert.der;
    return fake;
  }

  private async pinned<T>(name: string, fn: () => Promise<T>): Promise<Result<T>> {
    this.calls.push(name);
    if (this.pinnedFailure) return { ok: false, failure: this.pinnedFailure };
    try {
      return { ok: true, value: await fn() };
    } catch (e) {
      return fail(e);
    }
  }

  async fetchCaBundleUnverified(): Promise<Result<{ pem: string; peer?: Buffer }>> {
    this.calls.push("fetchCa");
    return { ok: true, value: { pem: await this.ca.caCertificatePem(), peer: this.peerDer } };
  }

  refreshCaBundle(_t: Trust): Promise<Result<Fetched>> {
    return this.pinned("refreshCa", async () => ({ notModified: false as const, pem: await this.ca.caCertificatePem() }));
  }

  getCrl(_t: Trust): Promise<Result<Fetched>> {
    return this.pinned("getCrl", async () => ({ notModified: false as const, pem: await this.ca.crlPem() }));
  }

  getCertificateRequest(_t: Trust, name: string): Promise<Result<string>> {
    return this.pinned("getCsr", () => this.ca.getRequestPem(name));
  }

  submitCertificateRequest(_t: Trust, name: string, csrPem: string): Promise<Result<void>> {
    if (this.submitFailure) {
      this.calls.push("submitCsr");
      return Promise.resolve({ ok: false, failure: this.submitFailure });
    }
    return this.pinned("submitCsr", async () => {
      await this.ca.submitRequest(name, csrPem, ACTOR);
    });
  }

  getCertificate(_t: Trust, name: string): Promise<Result<string>> {
    return this.pinned("getCert", () => this.ca.getCertificatePem(name));
  }

  async renewCertificate(_t: Trust, id: Identity): Promise<Result<string>> {
    if (this.renewFailure) {
      this.calls.push("renew");
      return { ok: false, failure: this.renewFailure };
    }
    return this.pinned("renew", async () => certToPem((await this.ca.renew(parseCertificatePem(id.certPem), ACTOR)).der));
  }

  async probeMutualTls(_t: Trust, _id: Identity): Promise<Result<{ status: number }>> {
    this.calls.push("probe");
    if (this.pinnedFailure) return { ok: false, failure: this.pinnedFailure };
    if (this.probeFailure) return { ok: false, failure: this.probeFailure };
    return { ok: true, value: { status: 200 } };
  }

  sign(name: string, ttlSeconds?: number): Promise<unknown> {
    return this.ca.sign(name, { by: ACTOR, ttlSeconds });
  }
}
