/**
 * The bootstrap state machine through every branch of the seed's six steps, against an in-process CA (no
 * sockets) with an injected clock: waits advance the clock instead of sleeping.
 */
import { localPrincipal } from "../src/ca/principal.js";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { runAgent } from "../src/agent/driver.js";
import { KEY_MISMATCH_MESSAGE } from "../src/agent/errors.js";
import { Ssldir } from "../src/agent/ssldir.js";
import type { AgentEvent, AgentOptions, StepContext } from "../src/agent/states.js";
import { generateCertificate } from "../src/ca/generate.js";
import { setupCa } from "../src/ca/setup.js";
import { parseCsrPem } from "../src/pki/csr.js";
import { fingerprint } from "../src/pki/fingerprint.js";
import { parseCertificatePem } from "../src/pki/certificate.js";
import { CertificateAuthority } from "../src/ca/authority.js";
import { FakeCa } from "./helpers/agent-fake-ca.js";
import { MemoryStore } from "./helpers/memory-store.js";
import { csrVerifies, tmpDir } from "./helpers/openssl.js";

const DAY = 86_400_000;
const NAME = "node1.test";
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function harness(client: FakeCa, opts: Partial<AgentOptions> = {}, dir?: string) {
  // A directory that does not exist yet, so the agent creates it with Puppet's modes.
  const root = dir ?? path.join(tmpDir("fleetca-agent-"), "ssl");
  if (!dir) dirs.push(path.dirname(root));
  let now = Date.now();
  const events: AgentEvent[] = [];
  const sleeps: number[] = [];
  let onSleep: (() => Promise<void>) | undefined;
  const ctx: StepContext = {
    opts: {
      certname: NAME, waitforcert: 0, maxwaitforcert: 0, hostcertRenewalInterval: 30 * 86400, caRefreshInterval: 86400,
      crlRefreshInterval: 86400, dnsAltNames: [], csrAttributesFile: path.join(root, "no-such.yaml"),
      keySpec: { type: "ec", curve: "P-256" }, mode: "bootstrap", ...opts,
    },
    deps: {
      clock: () => new Date(now),
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
        await onSleep?.();
      },
      emit: (e) => events.push(e),
    },
    ssldir: new Ssldir(root, NAME),
    client,
  };
  return {
    ctx, events, sleeps, root,
    run: () => runAgent(ctx),
    advance: (ms: number) => (now += ms),
    onSleep: (fn: () => Promise<void>) => (onSleep = fn),
    types: () => events.map((e) => ("action" in e ? `${e.type}:${e.action}` : e.type)),
    file: (rel: string) => path.join(root, rel),
  };
}

const mode = (p: string) => fs.statSync(p).mode & 0o777;

describe("agent state machine", () => {
  it("fresh node, autosigned: steps 1-6 in order, Puppet layout, modes, CSR removed once signed", async () => {
    const ca = await FakeCa.create({ autosign: true });
    const h = harness(ca);
    const out = await h.run();
    assert.equal(out.name, "Done");
    assert.deepEqual(ca.calls, ["fetchCa", "getCrl", "getCsr", "submitCsr", "getCert", "probe"]);
    assert.deepEqual(h.types(), ["ca:fetched", "crl:fetched", "key:created", "cert-on-disk", "csr:submitted", "cert-downloaded", "verified"]);
    for (const f of ["certs/ca.pem", "crl.pem", `private_keys/${NAME}.pem`, `public_keys/${NAME}.pem`, `certs/${NAME}.pem`]) assert.ok(fs.existsSync(h.file(f)), f);
    assert.ok(!fs.existsSync(h.file(`certificate_requests/${NAME}.pem`)));
    assert.equal(mode(h.file(`private_keys/${NAME}.pem`)), 0o600);
    assert.equal(mode(h.root), 0o771);
    assert.equal(mode(h.file("private_keys")), 0o750);
    assert.equal(mode(h.file("certs")), 0o755);
    // A second run finds everything on disk and only proves it (step 3 -> step 6).
    ca.calls.length = 0;
    const h2 = harness(ca, {}, h.root);
    assert.equal((await h2.run()).name, "Done");
    assert.deepEqual(ca.calls, ["probe"]);
    assert.deepEqual(h2.types(), ["ca:loaded", "crl:loaded", "key:loaded", "cert-on-disk", "verified"]);
  });

  it("waitforcert 0: not signed yet; the rerun uses the saved CSR and never resubmits", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca);
    const out = await h.run();
    assert.equal(out.name, "Error");
    assert.equal(out.name === "Error" && out.error.kind, "not-signed");
    assert.ok(fs.existsSync(h.file(`certificate_requests/${NAME}.pem`)));
    ca.calls.length = 0;
    const h2 = harness(ca, {}, h.root);
    await h2.run();
    assert.deepEqual(ca.calls, ["getCert"]);
    assert.ok(h2.types().includes("csr:on-disk"));
  });

  it("forgotten CSR: downloaded from the CA, stored, not resubmitted; then signed", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca);
    await h.run();
    fs.rmSync(h.file(`certificate_requests/${NAME}.pem`));
    ca.calls.length = 0;
    const h2 = harness(ca, { waitforcert: 5 }, h.root);
    h2.onSleep(async () => void (await ca.sign(NAME)));
    assert.equal((await h2.run()).name, "Done");
    assert.deepEqual(ca.calls, ["getCsr", "getCert", "getCert", "probe"]);
    assert.ok(fs.readFileSync(h.file(`certs/${NAME}.pem`), "utf8"));
    assert.ok(h2.types().includes("csr:forgotten"));
  });

  it("waits waitforcert between polls, then downloads once signed", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca, { waitforcert: 10 });
    let polls = 0;
    h.onSleep(async () => {
      if (++polls === 2) await ca.sign(NAME);
    });
    assert.equal((await h.run()).name, "Done");
    assert.deepEqual(h.sleeps, [10_000, 10_000]);
    const waits = h.events.filter((e) => e.type === "not-signed");
    assert.equal(waits.length, 2);
    assert.equal(waits[1]!.type === "not-signed" && waits[1]!.waitedSeconds, 10);
  });

  it("maxwaitforcert: the last wait is shortened, then it gives up (timed-out)", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca, { waitforcert: 10, maxwaitforcert: 25 });
    const out = await h.run();
    assert.equal(out.name === "Error" && out.error.kind, "timed-out");
    assert.deepEqual(h.sleeps, [10_000, 10_000, 5_000]);
  });

  it("key deleted, certificate kept: new key at step 2, certificate at step 3, mismatch at step 6 (seed wording)", async () => {
    const ca = await FakeCa.create({ autosign: true });
    const h = harness(ca);
    await h.run();
    fs.rmSync(h.file(`private_keys/${NAME}.pem`));
    const out = await harness(ca, {}, h.root).run();
    assert.equal(out.name, "Error");
    if (out.name !== "Error") return;
    assert.equal(out.error.kind, "key-mismatch");
    assert.equal(out.error.message, KEY_MISMATCH_MESSAGE);
    assert.deepEqual(out.error.remedies.map((r) => ("on" in r ? `${r.on}:${r.action}` : "note")), ["ca:clean", "agent:clean", "agent:bootstrap"]);
  });

  it("the CA holds a request made with another key: reported at step 4 instead of waiting forever", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca);
    await h.run();
    fs.rmSync(h.file(`private_keys/${NAME}.pem`));
    fs.rmSync(h.file(`certificate_requests/${NAME}.pem`));
    const out = await harness(ca, { waitforcert: 60 }, h.root).run();
    assert.equal(out.name === "Error" && out.error.kind, "key-mismatch");
  });

  it("the CA already signed this name for another key: 400 duplicate, then the download fails at step 6", async () => {
    const ca = await FakeCa.create();
    await generateCertificate(ca.ca, NAME, { by: localPrincipal("t", "t"), key: { type: "ec", curve: "P-256" } });
    const h = harness(ca);
    const out = await h.run();
    assert.ok(h.types().includes("csr:duplicate"));
    assert.equal(out.name === "Error" && out.error.kind, "key-mismatch");
  });

  it("flood protection: a 429 on submission is 'try again later' with the server's words, not a rejected request", async () => {
    const ca = await FakeCa.create();
    const message = "Too many certificate requests from 10.0.0.7: at most 10 per second (csr_rate) after a burst of 100 (csr_burst); nothing was stored. Try again in 3 seconds.";
    ca.submitFailure = { kind: "http", status: 429, message };
    const h = harness(ca);
    const out = await h.run();
    assert.equal(out.name === "Error" && out.error.kind, "unavailable");
    assert.match(out.name === "Error" ? out.error.message : "", /answered HTTP 429: Too many certificate requests .* Try again in 3 seconds\.$/);
    assert.ok(!fs.existsSync(h.file(`certificate_requests/${NAME}.pem`)), "the local request is forgotten, so the next run submits again");
  });

  it("revoked: found by a refreshed CRL (crl_refresh_interval elapsed on the injected clock)", async () => {
    const ca = await FakeCa.create({ autosign: true });
    const h = harness(ca);
    await h.run();
    await ca.ca.revoke([NAME], localPrincipal("t", "t"));
    const h2 = harness(ca, {}, h.root);
    assert.equal((await h2.run()).name, "Done", "within the interval the saved CRL is used");
    const h3 = harness(ca, {}, h.root);
    h3.advance(2 * DAY);
    const out = await h3.run();
    assert.ok(h3.types().includes("crl:refreshed"));
    assert.ok(h3.types().includes("ca:current"), "ca_refresh_interval elapsed too: the CA certificate was checked");
    assert.equal(out.name === "Error" && out.error.kind, "revoked");
  });

  it("revoked: the server refuses our certificate, a fresh CRL says why", async () => {
    const ca = await FakeCa.create({ autosign: true });
    const h = harness(ca);
    await h.run();
    await ca.ca.revoke([NAME], localPrincipal("t", "t"));
    ca.probeFailure = { kind: "http", status: 403, message: "revoked" };
    const out = await harness(ca, {}, h.root).run();
    assert.equal(out.name === "Error" && out.error.kind, "revoked");
  });

  it("CA changed: the server no longer verifies against the saved CA", async () => {
    const ca = await FakeCa.create({ autosign: true });
    const h = harness(ca);
    await h.run();
    ca.pinnedFailure = { kind: "untrusted-server", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE", message: "x", peer: { subject: "CN=ca.test", issuer: "CN=Puppet CA: new", fingerprint256: "AA" } };
    const out = await harness(ca, {}, h.root).run();
    assert.equal(out.name === "Error" && out.error.kind, "ca-changed");
    assert.match(out.name === "Error" ? out.error.details.join("\n") : "", /Puppet CA: new/);
  });

  it("first contact: --ca-fingerprint pins the CA; a wrong pin or a server the CA did not certify is refused", async () => {
    const ca = await FakeCa.create({ autosign: true });
    const good = fingerprint(parseCertificatePem(await ca.ca.caCertificatePem()).der);
    const ok = harness(ca, { caFingerprint: good });
    assert.equal((await ok.run()).name, "Done");
    assert.ok(ok.events.some((e) => e.type === "ca" && e.pinned === true));
    const bad = harness(ca, { caFingerprint: good.replace(/^../, good.startsWith("00") ? "11" : "00") });
    const out = await bad.run();
    assert.equal(out.name === "Error" && out.error.kind, "ca-pin-mismatch");
    assert.ok(!fs.existsSync(bad.file("certs/ca.pem")));
    // A server whose certificate comes from another CA than the one it serves.
    const other = new MemoryStore();
    await setupCa(other, { caName: "Puppet CA: other", key: { type: "ec", curve: "P-256" }, caTtl: 86400 * 365, now: new Date() });
    const otherCa = new CertificateAuthority({ store: other, settings: { caTtl: 86400 * 30, allowSubjectAltNames: true, allowAuthorizationExtensions: false, allowDuplicateCerts: false } });
    ca.peerDer = (await generateCertificate(otherCa, "ca.test", { by: localPrincipal("t", "t"), key: { type: "ec", curve: "P-256" } })).cert.der;
    const mitm = await harness(ca).run();
    assert.equal(mitm.name === "Error" && mitm.error.kind, "ca-changed");
  });

  it("expired and not yet valid, by moving the injected clock", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca, { hostcertRenewalInterval: 0 });
    await h.run();
    await ca.sign(NAME, 2 * 86400);
    assert.equal((await harness(ca, { hostcertRenewalInterval: 0 }, h.root).run()).name, "Done");
    const later = harness(ca, { hostcertRenewalInterval: 0 }, h.root);
    later.advance(3 * DAY);
    const expired = await later.run();
    assert.equal(expired.name === "Error" && expired.error.kind, "expired");
    const earlier = harness(ca, {}, h.root);
    earlier.advance(-3 * DAY);
    const early = await earlier.run();
    assert.equal(early.name === "Error" && early.error.kind, "not-yet-valid");
    assert.deepEqual(early.name === "Error" && early.error.remedies, [{ on: "agent", action: "check-clock" }]);
  });

  it("renews automatically within hostcert_renewal_interval; a failed renewal keeps the current certificate", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca);
    await h.run();
    await ca.sign(NAME, 10 * 86400);
    ca.renewFailure = { kind: "http", status: 404, message: "no such endpoint" };
    const h2 = harness(ca, {}, h.root);
    assert.equal((await h2.run()).name, "Done");
    assert.ok(h2.types().includes("renewal:failed"));
    ca.renewFailure = undefined;
    const before = fs.readFileSync(h.file(`certs/${NAME}.pem`), "utf8");
    const h3 = harness(ca, {}, h.root);
    assert.equal((await h3.run()).name, "Done");
    assert.deepEqual(h3.types().filter((t) => t.startsWith("renewal")), ["renewal:renewing", "renewal:renewed"]);
    const after = parseCertificatePem(fs.readFileSync(h.file(`certs/${NAME}.pem`), "utf8"));
    assert.notEqual(after.serial, parseCertificatePem(before).serial);
    assert.ok(after.notAfter.getTime() > Date.now() + 365 * DAY);
  });

  it("renew against a CA without certificate_renewal (Puppet Server 7.9.5's auth.conf refusal): says so, keeps the certificate", async () => {
    const ca = await FakeCa.create();
    const h = harness(ca);
    await h.run();
    await ca.sign(NAME, 365 * 86400);
    assert.equal((await harness(ca, {}, h.root).run()).name, "Done");
    const before = fs.readFileSync(h.file(`certs/${NAME}.pem`), "utf8");
    ca.renewFailure = { kind: "http", status: 403, message: "Forbidden request: /puppet-ca/v1/certificate_renewal (method :post). Please see the server logs for details." };
    const out = await harness(ca, { mode: "renew" }, h.root).run();
    assert.equal(out.name === "Error" && out.error.kind, "rejected");
    assert.match(out.name === "Error" ? out.error.message : "", /this CA does not offer certificate renewal .*HTTP 403/);
    assert.deepEqual(out.name === "Error" && out.error.remedies.filter((r) => "on" in r).map((r) => `${r.on}:${r.action}`), ["ca:clean", "agent:clean", "agent:bootstrap"]);
    assert.equal(fs.readFileSync(h.file(`certs/${NAME}.pem`), "utf8"), before);
  });

  it("builds the CSR from certname, dns_alt_names and csr_attributes.yaml; openssl verifies it", async () => {
    const ca = await FakeCa.create();
    const root = tmpDir("fleetca-agent-");
    dirs.push(root);
    const attrs = path.join(root, "csr_attributes.yaml");
    fs.writeFileSync(attrs, "custom_attributes:\n  1.2.840.113549.1.9.7: s3cret\nextension_requests:\n  pp_uuid: ED803750-E3C7-44F5-BB08-41A04433FE2E\n  pp_role: web\n  1.3.6.1.4.1.34380.1.2.1: yes\n");
    const h = harness(ca, { dnsAltNames: ["alias.test", "IP:10.0.0.1"], csrAttributesFile: attrs }, root);
    await h.run();
    const pem = fs.readFileSync(h.file(`certificate_requests/${NAME}.pem`), "utf8");
    const csr = parseCsrPem(pem);
    assert.equal(csr.commonName, NAME);
    assert.deepEqual(csr.altNames, [`DNS:${NAME}`, "DNS:alias.test", "IP:10.0.0.1"]);
    assert.deepEqual(csr.attributes, [{ oid: "1.2.840.113549.1.9.7", value: "s3cret" }]);
    const ext = (oid: string) => csr.extensions.find((e) => e.oid === oid)?.value.subarray(2).toString();
    assert.equal(ext("1.3.6.1.4.1.34380.1.1.1"), "ED803750-E3C7-44F5-BB08-41A04433FE2E");
    assert.equal(ext("1.3.6.1.4.1.34380.1.1.13"), "web");
    assert.equal(ext("1.3.6.1.4.1.34380.1.2.1"), "true", "YAML 1.1 yes is a boolean; Puppet writes its text");
    const v = csrVerifies(pem);
    assert.ok(v.ok, v.out);
  });
});
