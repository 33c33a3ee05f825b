/**
 * Regenerating the CA (seed 001): a new CA key and certificate with the old one's name, an
 * empty CRL, a new server certificate and infrastructure credentials, all through the one
 * issuing path, and every node of the old CA recorded for re-enrollment tracking.
 *
 * compromise (the seed's case): the old CA's certificates and requests are removed at once;
 * servers refuse old certificates from the moment they see the new CA.
 * rotate: the old CA stays trusted until `overlapUntil` (its certificate is kept in the
 * tracking record), old certificates stay listed, and a node renewing with its old
 * certificate receives one of the new CA.
 */
import { certToPem, issueCertificate, parseCertificateChain } from "../../pki/certificate.js";
import { crlToPem, emptyCrlState, resignedState, signCrl } from "../../pki/crl.js";
import { keyIdentifier } from "../../pki/extensions.js";
import { fingerprint } from "../../pki/fingerprint.js";
import { generateKeyPair, privateKeyToPem, publicKeyToPem, spkiDer, type KeySpec } from "../../pki/keys.js";
import { caExtensions } from "../../pki/profile.js";
import { auditRecord } from "../audit.js";
import type { CertificateAuthority } from "../authority.js";
import { crlNextUpdate } from "../crl-hygiene.js";
import { CaError } from "../errors.js";
import { generateCertificate, type Generated } from "../generate.js";
import { signingKey } from "../material.js";
import { validateCertname } from "../names.js";
import type { Principal } from "../principal.js";
import type { RegenerationState } from "../store.js";
import { summarize } from "../summarize.js";

const DAY_MS = 86_400_000;

export interface RegenerateOptions {
  mode: "compromise" | "rotate";
  /** rotate: seconds the old CA stays trusted. */
  overlapSeconds?: number;
  infra: string[];
  key: KeySpec;
  caTtl: number;
  crlTtl?: number;
  /** The server's own certificate: its certname and alt names. */
  server: { certname: string; altNames: string[] };
  now: Date;
  by: Principal;
}

export interface RegenerationPlan {
  mode: RegenerateOptions["mode"];
  caName: string;
  oldCaFingerprint: string;
  oldCaNotAfter: Date;
  /** Nodes holding a certificate of the old CA: they are tracked until they re-enroll. */
  nodes: string[];
  pendingRequests: number;
  infra: string[];
  server: string;
  overlapUntil?: Date;
}

export interface Regenerated extends RegenerationPlan {
  newCaFingerprint: string;
  caCertPem: string;
  crlPem: string;
  serverCredentials: Generated;
  infraCredentials: { name: string; credentials: Generated }[];
}

/** What a regeneration would do, without changing anything (--dry-run shows it). */
export async function planRegeneration(ca: CertificateAuthority, o: RegenerateOptions): Promise<RegenerationPlan> {
  if (!(await ca.store.isInitialized())) throw new CaError("not-initialized", `No CA in ${ca.store.location}: there is nothing to regenerate; run \`fleetca ca setup\`.`);
  for (const n of o.infra) validateCertname(n);
  if (o.mode === "rotate" && !(o.overlapSeconds && o.overlapSeconds > 0)) {
    throw new CaError("invalid-request", "--mode rotate needs --overlap DURATION (how long the old CA stays trusted, e.g. 30d).");
  }
  const old = (await ca.current(true)).cert;
  const entries = await ca.store.listIndex(summarize);
  const nodes = entries.filter((e) => e.state === "signed").map((e) => e.name);
  return {
    mode: o.mode,
    caName: old.commonName,
    oldCaFingerprint: fingerprint(old.der),
    oldCaNotAfter: old.notAfter,
    nodes,
    pendingRequests: entries.length - nodes.length,
    infra: [...new Set(o.infra)],
    server: o.server.certname,
    ...(o.mode === "rotate" ? { overlapUntil: new Date(o.now.getTime() + (o.overlapSeconds ?? 0) * 1000) } : {}),
  };
}

/** Replaces the CA. The caller has taken and verified a backup first (the old CA is in it). */
export async function regenerateCa(ca: CertificateAuthority, o: RegenerateOptions): Promise<Regenerated> {
  const plan = await planRegeneration(ca, o);
  const store = ca.store;
  const oldMaterial = await ca.current(true);
  const keys = await generateKeyPair(o.key);
  const spki = spkiDer(keys.publicKey);
  // The same subject as the old CA: agents and Puppet's messages name the CA as before.
  const name = oldMaterial.cert.subjectDer;
  const notBefore = new Date(o.now.getTime() - DAY_MS);
  const notAfter = new Date(o.now.getTime() + o.caTtl * 1000);
  const der = await issueCertificate({ serial: 1n, issuer: name, subject: name, notBefore, notAfter, spki, extensions: caExtensions(spki) }, keys.privateKey);
  const crl = await signCrl(emptyCrlState(name, keyIdentifier(spki), o.now, crlNextUpdate(o.now, o.crlTtl)), keys.privateKey);
  const caCertPem = certToPem(der);
  const crlPem = crlToPem(crl);
  const newCaFingerprint = fingerprint(der);

  // rotate: the old key is not kept, so its last CRL is signed now to outlive the overlap by a
  // day (agents with a slow clock); revocations made during the overlap go into the new CA's
  // CRL (serials never repeat across the two CAs) and fleetca servers enforce both.
  const oldCrlPem = plan.overlapUntil
    ? crlToPem(await signCrl(resignedState(oldMaterial.crl, o.now, new Date(plan.overlapUntil.getTime() + DAY_MS)), signingKey(oldMaterial)))
    : undefined;
  const state: RegenerationState = {
    mode: o.mode,
    startedAt: o.now,
    oldCaFingerprint: plan.oldCaFingerprint,
    newCaFingerprint,
    firstNewSerial: 0n,
    ...(plan.overlapUntil ? { overlapUntil: plan.overlapUntil, oldCaCertPem: parseCertificateChain(oldMaterial.raw.certPem).map((c) => certToPem(c.der)).join(""), oldCrlPem } : {}),
  };
  await store.withLock(async () => {
    // Serials continue after the old CA's: no new certificate repeats an old serial, and a
    // serial at or past this one was issued by the new CA.
    state.firstNewSerial = await store.peekSerial();
    await store.startTracking(state, plan.nodes);
    if (o.mode === "compromise") await store.clearIssued();
    await store.initialize(
      { certPem: caCertPem, keyPem: privateKeyToPem(keys.privateKey), publicKeyPem: publicKeyToPem(keys.publicKey), crlPem },
      { firstSerial: state.firstNewSerial, overwrite: true, caInventory: { serial: 1n, notBefore, notAfter, subject: `/CN=${plan.caName}` } },
    );
  });
  await store.appendAudit([
    auditRecord(o.now, "regenerated", o.by, { names: plan.infra, detail: `${o.mode}; old CA ${plan.oldCaFingerprint}; new CA ${newCaFingerprint}; ${plan.nodes.length} nodes to re-enroll` }),
  ]);
  await ca.current(true);
  const issue = (certname: string, altNames: string[], cliAuth: boolean) => generateCertificate(ca, certname, { by: o.by, key: o.key, dnsAltNames: altNames, cliAuth });
  if (o.mode === "rotate") {
    // The old certificates stay listed in a rotation: the new ones replace them.
    for (const n of [o.server.certname, ...plan.infra]) await store.deleteCertificate(n);
  }
  const serverCredentials = await issue(o.server.certname, o.server.altNames, true);
  const infraCredentials: Regenerated["infraCredentials"] = [];
  for (const n of plan.infra) if (n !== o.server.certname) infraCredentials.push({ name: n, credentials: await issue(n, [], false) });
  return { ...plan, newCaFingerprint, caCertPem, crlPem, serverCredentials, infraCredentials };
}
