/**
 * Step 1: the CA certificate and the CRL, from disk or from the CA. First contact is trust on first use unless
 * --ca-fingerprint pins it; every later request is pinned to the saved CA. Saved copies are refreshed once they
 * are older than ca_refresh_interval / crl_refresh_interval (0: on every run), as a best effort.
 */
import { fingerprint } from "../pki/fingerprint.js";
import { rfcName } from "../pki/name.js";
import { AgentError } from "./errors.js";
import { caChanged, failureError, serverCertSeen } from "./failures.js";
import type { SslFile } from "./ssldir.js";
import type { State, StepContext } from "./states.js";
import { caFingerprint, caSubject, parseCaBundle, parseCrlFor, peerIssuedBy, type CaBundle, type TrustMaterial } from "./trust.js";

export async function needCaCerts(ctx: StepContext): Promise<State> {
  const { ssldir, client, deps } = ctx;
  const saved = await ssldir.read("ca");
  if (saved === undefined) return { name: "NeedCRL", bundle: await fetchCa(ctx) };
  let bundle = parseCaBundle(saved, ssldir.path("ca"));
  let action: "loaded" | "refreshed" | "current" = "loaded";
  if (await isStale(ctx, "ca", ctx.opts.caRefreshInterval)) {
    const crlPem = await ssldir.read("crl");
    const r = await client.refreshCaBundle({ caPem: bundle.caPem, crlPem }, await ssldir.updatedAt("ca"));
    if (!r.ok) {
      if (r.failure.kind === "untrusted-server") throw failureError(r.failure, `refresh the CA certificate from ${client.caUrl}`, bundle);
      deps.emit({ type: "refresh-failed", what: "CA certificate", reason: failureError(r.failure, "refresh it").message });
    } else if (r.value.notModified || r.value.pem === saved) {
      await ssldir.markUpdated("ca", deps.clock());
      action = "current";
    } else {
      const old = bundle;
      bundle = parseCaBundle(r.value.pem, client.caUrl);
      await ssldir.write("ca", bundle.caPem);
      // A different issuing CA signs a different CRL: drop ours so step 1 fetches the new one.
      if (!old.chain[0]!.der.equals(bundle.chain[0]!.der)) await ssldir.remove("crl");
      await ssldir.markUpdated("ca", deps.clock());
      action = "refreshed";
    }
  }
  deps.emit({ type: "ca", action, subject: caSubject(bundle), fingerprint: caFingerprint(bundle), url: action === "loaded" ? undefined : client.caUrl });
  return { name: "NeedCRL", bundle };
}

async function fetchCa(ctx: StepContext): Promise<CaBundle> {
  const { client, opts, ssldir, deps } = ctx;
  const r = await client.fetchCaBundleUnverified();
  if (!r.ok) throw failureError(r.failure, `fetch the CA certificate from ${client.caUrl}`);
  const bundle = parseCaBundle(r.value.pem, `the CA at ${client.caUrl}`);
  const got = caFingerprint(bundle);
  if (opts.caFingerprint && got !== opts.caFingerprint) {
    throw new AgentError("ca-pin-mismatch", `The CA certificate served by ${client.caUrl} is not the one --ca-fingerprint names; refusing to trust it.`, {
      details: [`expected SHA256 ${opts.caFingerprint}`, `served   SHA256 ${got} ("${caSubject(bundle)}")`],
      remedies: [{ note: "Check the fingerprint on the CA server with `fleetca ca fingerprint ca`, and that --ca-server names that server." }],
    });
  }
  // The server that handed us the CA must itself hold a certificate from it; otherwise what we were given is not
  // the CA of the server we are talking to.
  if (r.value.peer) {
    const check = peerIssuedBy(r.value.peer, bundle);
    if (!check.ok) {
      const seen = check.peer ? serverCertSeen(rfcName(check.peer.subject), rfcName(check.peer.issuer), fingerprint(check.peer.der)) : "its certificate could not be read";
      throw caChanged(`trust the CA served by ${client.caUrl}`, bundle, seen);
    }
  }
  await ssldir.write("ca", bundle.caPem);
  await ssldir.markUpdated("ca", deps.clock());
  deps.emit({ type: "ca", action: "fetched", subject: caSubject(bundle), fingerprint: got, url: client.caUrl, pinned: opts.caFingerprint !== undefined });
  return bundle;
}

export async function needCrl(ctx: StepContext, bundle: CaBundle): Promise<State> {
  const { ssldir, client, deps } = ctx;
  const saved = await ssldir.read("crl");
  let trust: TrustMaterial;
  let action: "loaded" | "fetched" | "refreshed" | "current" = "loaded";
  if (saved === undefined) {
    const r = await client.getCrl({ caPem: bundle.caPem });
    if (!r.ok) throw failureError(r.failure, `fetch the CRL from ${client.caUrl}`, bundle);
    if (r.value.notModified) throw new AgentError("unavailable", `The CA at ${client.caUrl} answered 304 Not Modified to an unconditional CRL request.`);
    trust = parseCrlFor(bundle, r.value.pem, client.caUrl);
    await ssldir.write("crl", trust.crlPem);
    await ssldir.markUpdated("crl", deps.clock());
    action = "fetched";
  } else {
    trust = parseCrlFor(bundle, saved, ssldir.path("crl"));
    if (await isStale(ctx, "crl", ctx.opts.crlRefreshInterval)) {
      const refreshed = await refreshCrl(ctx, trust, await ssldir.updatedAt("crl"));
      action = refreshed === trust ? "current" : refreshed ? "refreshed" : "loaded";
      trust = refreshed ?? trust;
    }
  }
  deps.emit({ type: "crl", action, revoked: trust.crl.serials.size, url: action === "loaded" ? undefined : client.caUrl });
  return { name: "NeedKey", trust };
}

/**
 * Asks the CA for a newer CRL. Returns the new material, the same object when it is current, or undefined when the
 * CA could not be asked (reported as a warning: the saved CRL stays in use, as Puppet does). A server that no
 * longer verifies against the saved CA is not a warning: that is the CA-changed error.
 */
export async function refreshCrl(ctx: StepContext, trust: TrustMaterial, since?: Date): Promise<TrustMaterial | undefined> {
  const { ssldir, client, deps } = ctx;
  const r = await client.getCrl({ caPem: trust.caPem, crlPem: trust.crlPem }, since);
  if (!r.ok) {
    if (r.failure.kind === "untrusted-server") throw failureError(r.failure, `refresh the CRL from ${client.caUrl}`, trust);
    deps.emit({ type: "refresh-failed", what: "CRL", reason: failureError(r.failure, "refresh it").message });
    return undefined;
  }
  await ssldir.markUpdated("crl", deps.clock());
  if (r.value.notModified || r.value.pem === trust.crlPem) return trust;
  const fresh = parseCrlFor(trust, r.value.pem, client.caUrl);
  await ssldir.write("crl", fresh.crlPem);
  await ssldir.markUpdated("crl", deps.clock());
  return fresh;
}

async function isStale(ctx: StepContext, file: SslFile, intervalSeconds: number): Promise<boolean> {
  if (intervalSeconds === 0) return true;
  const at = await ctx.ssldir.updatedAt(file);
  return at === undefined || ctx.deps.clock().getTime() - at.getTime() >= intervalSeconds * 1000;
}
