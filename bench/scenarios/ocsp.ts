/**
 * Scenario 5: OCSP answers per second, for an RSA-4096 CA and for a P-256 CA, fleetca's
 * responder (`POST /ocsp` on its HTTPS port) against openssl's reference responder
 * (`openssl ocsp -index index.txt -port P ...`) in the same run, on the same certificates,
 * with the same requests (made by `openssl ocsp -reqout`) and the same load generator.
 *
 *   uncached   every request carries a nonce no other request had, so every answer is signed
 *   repeated   nonce-less questions about the N certificates, over and over: a responder may
 *              answer them from a cache (fleetca's does; openssl's signs every answer)
 *   staleness  while the repeated load runs, `fleetca ca revoke NAME` (the CLI, another
 *              process); every answer about NAME asked after the command exited must say revoked
 *
 * Compared with the machine's signing limit for the CA's key (bench/lib/limit.ts), measured
 * just before. Every answer's HTTP status, OCSPResponseStatus and certStatus are checked as
 * it arrives; every Nth exchange is checked by `openssl ocsp -respin` after the clock stops.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { agentIdentities } from "../lib/agents.js";
import { BENCH_ACTOR, fleetcaCli, freshCa, inProcessCa, type CaKeyType } from "../lib/fleetca.js";
import { LeanConnection } from "../lib/lean-http.js";
import { signingLimit, type SigningLimit } from "../lib/limit.js";
import { certStatusOf, indexSerial, isSuccessful, opensslCheck, opensslRequest, startReference, withNonce, writeIndex, type OcspRequestTemplate, type OcspSubject, type ResponseCheck } from "../lib/ocsp.js";
import { runOcspLoad, startStaticResponder, type OcspLoadResult, type OcspSample, type OcspTarget } from "../lib/ocsp-load.js";
import { TMP_DIR } from "../lib/paths.js";
import { fmt, machine, type Row, type ScenarioResult } from "../lib/results.js";
import { cpuMsOf, freePort, startServer } from "../lib/server.js";

export interface OcspOptions {
  /** Certificates issued per CA (every 10th revoked). */
  n: number;
  /** Length of each timed load run. */
  durationMs: number;
  concurrency: number;
  command: string;
  keyTypes?: CaKeyType[];
  /** Prefix for the scratch directories (the smoke test uses its own). */
  label?: string;
  /** Measure the signing limit (3 s + 3 s); the smoke test skips it. */
  limit?: boolean;
  /** Also run openssl's responder with `-multi <cores>` (one process per core), uncached only. */
  multi?: boolean;
  /** How to run the CLI and the server (default the built bin/fleetca.js; the smoke test runs the source). */
  entry?: string[];
  /**
   * The ceiling run, the `ocsp_signer: ca` run and the staleness check's CLI revoke (default
   * true; the smoke test's runs are too short for them).
   */
  extras?: boolean;
  /** Exchanges per load run checked by openssl afterwards (default 30). */
  samples?: number;
  /** Nonce'd request templates (one openssl run each), spread over the certificates. */
  nonceTemplates?: number;
}

interface Checked {
  sampled: number;
  ok: number;
  nextUpdate: number;
  failures: ResponseCheck[];
}

interface Side {
  load: OcspLoadResult;
  serverCpuMs?: number;
  checks: Checked;
}

interface Staleness {
  name: string;
  serial: string;
  cliMs: number;
  cliCode: number;
  /** Watched answers sent before the revoke started / after the CLI exited. */
  before: number;
  after: number;
  /** Status of the first answer asked after the CLI exited. */
  firstAfter?: string;
  staleAfter: number;
  /** Last stale answer's send time, ms after the CLI exited. */
  lastStaleMs?: number;
  firstAfterCheck?: ResponseCheck;
  beforeCheck?: ResponseCheck;
  met: boolean;
}

export interface OcspRun {
  keyType: CaKeyType;
  certificates: number;
  revoked: number;
  questions: { uncachedTemplates: number; repeated: number };
  setupMs: { issue: number; requests: number };
  limit?: SigningLimit;
  reference: { command: string; uncached: Side; repeated: Side; multi?: Side & { command: string } };
  fleetca?: { url: string; signer: ResponderKey; signerLimit?: SigningLimit; uncached: Side; cached: Side; staleness: Staleness; uncachedCaSigner?: Side; ceiling?: { load: OcspLoadResult; serverCpuMs: number } };
  fleetcaSkipped?: string;
}

const cores = availableParallelism();

/** Who signed fleetca's answers: the CA key, or a delegated responder certificate (and its key type). */
export interface ResponderKey {
  delegated: boolean;
  keyType: string;
  subject?: string;
}

/** Read from an answer by `openssl ocsp -resp_text`: the certificate it carries, if any, is the responder's. */
function responderKey(work: string, resp: Buffer, caKeyType: CaKeyType): ResponderKey {
  const f = join(work, "probe.resp.der");
  writeFileSync(f, resp);
  const out = spawnSync("openssl", ["ocsp", "-respin", f, "-resp_text", "-noverify"], { encoding: "utf8" }).stdout ?? "";
  const cert = out.slice(out.indexOf("Certificate:"));
  if (!out.includes("Certificate:")) return { delegated: false, keyType: caKeyType };
  const subject = /Subject: (.+)/.exec(cert)?.[1]?.trim();
  const bits = /Public-Key: \((\d+) bit\)/.exec(cert)?.[1];
  const keyType = /id-ecPublicKey/.test(cert) ? `ec-p${bits}` : `rsa-${bits}`;
  return { delegated: true, keyType, subject };
}

function ecKeyPem(keyType: string): string {
  const curve = keyType === "ec-p384" ? "P-384" : "P-256";
  return generateKeyPairSync("ec", { namedCurve: curve }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

function rsaKeyPem(bits: number): string {
  return generateKeyPairSync("rsa", { modulusLength: bits }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** Runs `f` over `items`, `k` at a time. */
async function pooled<T, R>(items: T[], k: number, f: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: k }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!, i);
      }
    }),
  );
  return out;
}

function checkSamples(dir: string, caFile: string, samples: OcspSample[], subjects: OcspSubject[], nonce: boolean): Checked {
  const c: Checked = { sampled: samples.length, ok: 0, nextUpdate: 0, failures: [] };
  samples.forEach((s, i) => {
    const subject = subjects[s.tag]!;
    const r = opensslCheck(dir, caFile, s.request, s.response, { serial: subject.serialHex, revoked: subject.revoked, nonce }, i);
    if (r.ok) c.ok++;
    else if (c.failures.length < 3) c.failures.push(r);
    if (r.nextUpdate) c.nextUpdate++;
  });
  return c;
}

async function ocspOne(keyType: CaKeyType, o: OcspOptions): Promise<OcspRun> {
  const label = `${o.label ?? "ocsp"}-${keyType}`;
  const work = join(TMP_DIR, "ocsp", label);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, "req"), { recursive: true });
  const cadir = await freshCa(label, keyType, o.entry);
  const caFile = join(cadir, "ca_crt.pem");
  const keyFile = join(cadir, "ca_key.pem");

  // N certificates through the CA in this process, every 10th revoked (one CRL signature).
  const tIssue = performance.now();
  const ca = inProcessCa(cadir);
  const agents = await agentIdentities(o.n, "ec", "ocsp");
  await pooled(agents, 8, (a) => ca.submitRequest(a.name, a.csrPem, BENCH_ACTOR));
  const signed = await ca.signMany(agents.map((a) => a.name), { by: BENCH_ACTOR });
  const failed = signed.filter((r) => r.error);
  if (failed.length > 0) throw new Error(`signing for the OCSP scenario failed: ${failed[0]!.error!.message}`);
  const toRevoke = agents.filter((_, i) => i % 10 === 5).map((a) => a.name);
  if (toRevoke.length > 0) await ca.revoke(toRevoke, BENCH_ACTOR);
  const issueMs = performance.now() - tIssue;

  // fleetca's server first (its first boot issues its own certificate, which the index then lists too).
  const startFleetca = (env: NodeJS.ProcessEnv = {}, log = "server.log") => startServer({ cadir, autosign: false, logFile: join(work, log), entry: o.entry, timeoutMs: 60_000, env });
  let server = await startFleetca();
  try {
    const index = join(work, "index.txt");
    const indexed = writeIndex(cadir, index);
    const revokedNames = new Set(toRevoke);
    const subjects: OcspSubject[] = agents.map((a) => ({
      name: a.name,
      serialHex: "",
      certFile: join(cadir, "signed", `${a.name}.pem`),
      revoked: revokedNames.has(a.name),
    }));

    const tReq = performance.now();
    const repeated = await pooled(subjects, 4, (s, i) => opensslRequest(caFile, s, false, join(work, "req", `${i}.der`)));
    const step = Math.max(1, Math.floor(subjects.length / (o.nonceTemplates ?? 200)));
    const nonceIdx = subjects.map((_, i) => i).filter((i) => i % step === 0);
    const nonced = await pooled(nonceIdx, 4, (i) => opensslRequest(caFile, subjects[i]!, true, join(work, "req", `${i}.nonce.der`)));
    const requestsMs = performance.now() - tReq;
    // The serial as the requests carry it: the certificate's, read back with node:crypto.
    for (const s of subjects) s.serialHex = serialOf(s.certFile);

    const limit = o.limit === false ? undefined : await signingLimit(keyType, readFileSync(keyFile, "utf8"));

    // Question generators. Uncached: the nonce'd templates in turn, each with a fresh nonce.
    const prefix = randomBytes(8);
    let counter = 0;
    const tagOf = new Map<OcspRequestTemplate, number>(repeated.map((t, i) => [t, i]));
    const uncachedTags = nonced.map((t) => subjects.indexOf(t.subject));
    const uncached = () => {
      const i = counter % nonced.length;
      const t = nonced[i]!;
      return { body: withNonce(t, prefix, counter++), tag: uncachedTags[i]! };
    };
    // Repeated: the N nonce-less requests in turn (the watched one only on slot 0, when watching).
    const watchedIdx = subjects.findIndex((s, i) => !s.revoked && i > 0);
    const repeatedNext = (skip?: number) => {
      let r = 0;
      return () => {
        let i = r++ % repeated.length;
        if (i === skip) i = r++ % repeated.length;
        return { body: repeated[i]!.der, tag: tagOf.get(repeated[i]!)! };
      };
    };
    const expect = (tag: number) => (subjects[tag]!.revoked ? "revoked" : "good") as "good" | "revoked";

    // The reference: openssl's responder, one process, plain HTTP, a new connection per request.
    const refPort = await freePort();
    const ref = await startReference({ dir: work, index, caFile, keyFile, port: refPort, probe: repeated[0]!.der });
    const refTarget: OcspTarget = { host: "127.0.0.1", port: refPort, path: "/", plain: true };
    let reference: OcspRun["reference"];
    try {
      const side = async (next: (slot: number) => { body: Buffer; tag: number }, nonce: boolean): Promise<Side> => {
        const cpu0 = cpuMsOf(ref.pid);
        const load = await runOcspLoad({ target: refTarget, concurrency: o.concurrency, durationMs: o.durationMs, next, expect, samples: o.samples }, cores);
        const serverCpuMs = cpuMsOf(ref.pid) - cpu0;
        return { load, serverCpuMs, checks: checkSamples(work, caFile, load.samples, subjects, nonce) };
      };
      reference = { command: ref.args.join(" "), uncached: await side(uncached, true), repeated: await side(repeatedNext(), false) };
    } finally {
      await ref.stop();
    }
    if (o.multi !== false) {
      const multiPort = await freePort();
      const multi = await startReference({ dir: work, index, caFile, keyFile, port: multiPort, probe: repeated[0]!.der, multi: cores });
      try {
        const load = await runOcspLoad({ target: { ...refTarget, port: multiPort }, concurrency: o.concurrency, durationMs: o.durationMs, next: uncached, expect, samples: o.samples }, cores);
        reference.multi = { command: multi.args.join(" "), load, checks: checkSamples(work, caFile, load.samples, subjects, true) };
      } finally {
        await multi.stop();
      }
    }

    // fleetca: is there a responder at all?
    const url = new URL(server.url);
    const fleetTarget: OcspTarget = { host: url.hostname, port: Number(url.port), path: "/ocsp", plain: false, caPem: readFileSync(caFile, "utf8") };
    const probe = new LeanConnection({ host: fleetTarget.host, port: fleetTarget.port, caPem: fleetTarget.caPem });
    let fleetcaSkipped: string | undefined;
    let signer: ResponderKey | undefined;
    try {
      const r = await probe.requestBytes("POST", "/ocsp", repeated[0]!.der, "application/ocsp-request", "application/ocsp-response");
      if (r.status !== 200 || !isSuccessful(r.bytes)) fleetcaSkipped = `fleetca has no OCSP responder in this build (POST /ocsp answered HTTP ${r.status}${r.status === 200 ? " without a successful OCSPResponse" : ""})`;
      else signer = responderKey(work, r.bytes, keyType);
    } catch (e) {
      fleetcaSkipped = `POST /ocsp failed: ${(e as Error).message}`;
    } finally {
      probe.close();
    }
    const run: OcspRun = {
      keyType,
      certificates: indexed.certificates,
      revoked: indexed.revoked,
      questions: { uncachedTemplates: nonced.length, repeated: repeated.length },
      setupMs: { issue: Math.round(issueMs), requests: Math.round(requestsMs) },
      limit,
      reference,
      fleetcaSkipped,
    };
    if (fleetcaSkipped || !signer) return run;
    // The limit that bounds uncached answers is the signing key's: a delegated responder's
    // key when fleetca signs with one (its default), else the CA's (the same figure when the
    // key types match).
    const signerLimit =
      o.limit === false ? undefined : signer.keyType === keyType ? limit : await signingLimit(signer.keyType, signer.keyType.startsWith("rsa") ? rsaKeyPem(Number(signer.keyType.slice(4))) : ecKeyPem(signer.keyType));

    const fleetSide = async (o2: Parameters<typeof runOcspLoad>[0], nonce: boolean): Promise<Side> => {
      const cpu0 = cpuMsOf(server.pid);
      const load = await runOcspLoad({ samples: o.samples, ...o2 }, cores);
      const serverCpuMs = cpuMsOf(server.pid) - cpu0;
      return { load, serverCpuMs, checks: checkSamples(work, caFile, load.samples, subjects, nonce) };
    };
    const fleetUncached = await fleetSide({ target: fleetTarget, concurrency: o.concurrency, durationMs: o.durationMs, next: uncached, expect }, true);

    // Cached, with the staleness watcher on slot 0 and a CLI revoke 40% into the run.
    const watched = subjects[watchedIdx]!;
    const watchedBody = repeated[watchedIdx]!.der;
    const others = repeatedNext(watchedIdx);
    const seen: { sentAt: number; status: string | undefined; body?: Buffer }[] = [];
    let tRevoke = Number.POSITIVE_INFINITY;
    let tExit = Number.POSITIVE_INFINITY;
    let lastBefore: Buffer | undefined;
    let kept = 0;
    let cli = { ms: 0, code: -1 };
    const fleetCached = await fleetSide(
      {
        target: fleetTarget,
        concurrency: o.concurrency,
        durationMs: o.durationMs,
        next: (slot) => (slot === 0 ? { body: watchedBody, tag: watchedIdx } : others()),
        expect,
        watch: (sentAt, body) => {
          const status = certStatusOf(body);
          if (sentAt < tRevoke) lastBefore = body;
          // Bodies kept from the revoke on, for openssl to check the first answer after it.
          // tExit is already set when an answer was asked after the CLI exited.
          const keep = sentAt >= tExit && kept < 50;
          if (keep) kept++;
          seen.push({ sentAt, status, body: keep ? Buffer.from(body) : undefined });
        },
        during: o.extras === false ? undefined : {
          atMs: o.durationMs * 0.4,
          run: async () => {
            tRevoke = performance.now();
            const r = await fleetcaCli(["ca", "revoke", "--cadir", cadir, watched.name], {}, o.entry);
            tExit = performance.now();
            cli = { ms: Math.round(r.ms), code: r.code };
          },
        },
      },
      false,
    );
    const after = seen.filter((x) => x.sentAt >= tExit);
    const stale = after.filter((x) => x.status !== "revoked");
    const first = after[0];
    const firstBody = first?.body;
    const staleness: Staleness = {
      name: watched.name,
      serial: watched.serialHex,
      cliMs: cli.ms,
      cliCode: cli.code,
      before: seen.filter((x) => x.sentAt < tRevoke).length,
      after: after.length,
      firstAfter: first?.status,
      staleAfter: stale.length,
      lastStaleMs: stale.length > 0 ? Math.round(stale.at(-1)!.sentAt - tExit) : undefined,
      firstAfterCheck: firstBody ? opensslCheck(work, caFile, watchedBody, firstBody, { serial: watched.serialHex, revoked: true, nonce: false }, 9001) : undefined,
      beforeCheck: lastBefore ? opensslCheck(work, caFile, watchedBody, Buffer.from(lastBefore), { serial: watched.serialHex, revoked: false, nonce: false }, 9002) : undefined,
      met: false,
    };
    staleness.met = cli.code === 0 && after.length > 0 && stale.length === 0 && staleness.firstAfterCheck?.ok === true && staleness.beforeCheck?.ok === true;
    watched.revoked = true;
    run.fleetca = { url: server.url, signer, signerLimit, uncached: fleetUncached, cached: fleetCached, staleness };

    // The ceiling for repeated questions: the same load against a Node HTTPS server that only
    // replays one stored answer (no routing, no logging, no OCSP work).
    if (lastBefore && o.extras !== false) {
      const stand = await startStaticResponder(readFileSync(keyFile, "utf8"), readFileSync(caFile, "utf8"), Buffer.from(lastBefore));
      try {
        const cpu0 = cpuMsOf(stand.pid);
        const load = await runOcspLoad({ target: { host: "127.0.0.1", port: stand.port, path: "/ocsp", plain: false }, concurrency: o.concurrency, durationMs: o.durationMs / 2, next: others, samples: 0 }, cores);
        run.fleetca.ceiling = { load, serverCpuMs: cpuMsOf(stand.pid) - cpu0 };
      } finally {
        await stand.stop();
      }
    }

    // Like for like with the reference: the same server with `ocsp_signer: ca`, uncached.
    if (signer.delegated && o.extras !== false) {
      await server.stop();
      server = await startFleetca({ FLEETCA_OCSP_SIGNER: "ca" }, "server-ca-signer.log");
      const byCa = await fleetSide({ target: { ...fleetTarget, port: Number(new URL(server.url).port) }, concurrency: o.concurrency, durationMs: o.durationMs, next: uncached, expect }, true);
      run.fleetca.uncachedCaSigner = byCa;
    }
    return run;
  } finally {
    await server.stop();
  }
}

function serialOf(certFile: string): string {
  return indexSerial(new X509Certificate(readFileSync(certFile, "utf8")).serialNumber);
}

const n0 = (x: number) => x.toLocaleString("en-US");
const checksLine = (c: Checked) => `${c.ok}/${c.sampled}`;
const allOk = (s: Side) => s.load.bad === 0 && s.load.wrongStatus === 0 && s.load.errorCount === 0 && s.checks.ok === s.checks.sampled && s.checks.sampled > 0;

function ocspResult(r: OcspRun, o: OcspOptions): ScenarioResult {
  const isRsa = r.keyType === "rsa-4096";
  const ref = r.reference;
  const secs = `${Math.round(o.durationMs / 100) / 10} s`;
  const rows: Row[] = [];
  const limit = r.limit?.limitPerSecond;
  const f = r.fleetca;
  if (f) {
    const u = f.uncached.load;
    const signerLimit = f.signerLimit?.limitPerSecond;
    const ratioLimit = signerLimit ? u.perSecond / signerLimit : Number.NaN;
    const ratioRef = u.perSecond / ref.uncached.load.perSecond;
    const by = f.signer.delegated ? `delegated responder, ${f.signer.keyType} key (fleetca's default)` : `the CA key, ${f.signer.keyType}`;
    rows.push({
      measurement: `uncached answers/s (a new nonce each), signed by ${by}, C=${o.concurrency}, ${secs}`,
      fleetca: fmt.rate(u.perSecond),
      compare: signerLimit ? `signing limit of that key ${fmt.rate(signerLimit)} → ${fmt.pct(ratioLimit)}` : "signing limit not measured",
      target: "≥ 80% of the signing limit",
      met: signerLimit ? ratioLimit >= 0.8 && allOk(f.uncached) : null,
    });
    rows.push({
      measurement: "uncached answers/s against openssl's responder (same requests, same client; it signs with the CA key)",
      fleetca: fmt.rate(u.perSecond),
      compare: `\`openssl ocsp -port\`: ${fmt.rate(ref.uncached.load.perSecond)} → ×${ratioRef.toFixed(2)}`,
      target: "≥ 5× the reference",
      met: ratioRef >= 5 && allOk(f.uncached),
    });
    if (f.uncachedCaSigner) {
      const b = f.uncachedCaSigner.load;
      rows.push({
        measurement: `uncached answers/s with \`ocsp_signer: ca\` (the CA key signs, as in the reference)`,
        fleetca: fmt.rate(b.perSecond),
        compare: `${limit ? `CA key's signing limit ${fmt.rate(limit)} → ${fmt.pct(b.perSecond / limit)}; ` : ""}×${(b.perSecond / ref.uncached.load.perSecond).toFixed(2)} the reference; ${b.answers - b.bad - b.wrongStatus}/${b.answers} answers right, openssl ${checksLine(f.uncachedCaSigner.checks)}`,
        met: null,
      });
    }
    const c = f.cached.load;
    rows.push({
      measurement: `repeated questions (no nonce, ${n0(r.questions.repeated)} certificates in turn), cached, C=${o.concurrency}, ${secs}`,
      fleetca: fmt.rate(c.perSecond),
      compare: `\`openssl ocsp -port\` on the same requests (it signs every answer): ${fmt.rate(ref.repeated.load.perSecond)} → ×${(c.perSecond / ref.repeated.load.perSecond).toFixed(1)}`,
      target: "≥ 20,000/s",
      met: c.perSecond >= 20_000 && allOk(f.cached),
    });
    const st = f.staleness;
    rows.push({
      measurement: "no stale answer: `fleetca ca revoke` during the cached load, then every answer about it",
      fleetca:
        st.cliCode !== 0
          ? `revoke failed (exit ${st.cliCode})`
          : `first answer after the CLI exited: ${st.firstAfter ?? "none"}; stale answers after: ${st.staleAfter}/${st.after}${st.lastStaleMs !== undefined ? ` (last asked ${st.lastStaleMs} ms after)` : ""}`,
      compare: `CLI revoke took ${fmt.ms(st.cliMs)}; answers checked by openssl before/after: ${st.beforeCheck?.status ?? "-"}/${st.firstAfterCheck?.status ?? "-"}`,
      target: "never stale",
      met: st.met,
    });
    rows.push({
      measurement: "answers checked: every answer's HTTP status, OCSPResponseStatus and certStatus; openssl -respin sample (signature, status, serial, nonce)",
      fleetca: `uncached ${n0(u.answers - u.bad - u.wrongStatus)}/${n0(u.answers)}, openssl ${checksLine(f.uncached.checks)}; cached ${n0(c.answers - c.bad - c.wrongStatus)}/${n0(c.answers)}, openssl ${checksLine(f.cached.checks)}`,
      compare: `reference: ${n0(ref.uncached.load.answers - ref.uncached.load.bad - ref.uncached.load.wrongStatus)}/${n0(ref.uncached.load.answers)}, openssl ${checksLine(ref.uncached.checks)}`,
      met: allOk(f.uncached) && allOk(f.cached),
    });
    rows.push({
      measurement: "CPU per answer, uncached / cached: server / load generator",
      fleetca: `${fmt.ms(f.uncached.serverCpuMs! / Math.max(1, u.answers))} / ${fmt.ms(u.clientCpuMs / Math.max(1, u.answers))}; ${fmt.ms(f.cached.serverCpuMs! / Math.max(1, c.answers))} / ${fmt.ms(c.clientCpuMs / Math.max(1, c.answers))}`,
      compare: `the load generator used ${fmt.pct(u.clientShare)} / ${fmt.pct(c.clientShare)} of the ${cores} cores`,
      met: null,
    });
    if (f.ceiling) {
      const z = f.ceiling.load;
      rows.push({
        measurement: "ceiling for repeated questions here: the same client against node:https replaying one stored answer (no OCSP, no routing, no logs)",
        fleetca: fmt.rate(z.perSecond),
        compare: `its CPU per answer ${fmt.ms(f.ceiling.serverCpuMs / Math.max(1, z.answers))}; load generator ${fmt.ms(z.clientCpuMs / Math.max(1, z.answers))} per answer, ${fmt.pct(z.clientShare)} of the cores`,
        met: null,
      });
    }
  } else {
    rows.push({ measurement: "fleetca's OCSP responder", fleetca: `skipped: ${r.fleetcaSkipped}`, target: "≥ 80% of the limit, ≥ 5× the reference, cached ≥ 20,000/s, never stale", met: null });
  }
  const ru = ref.uncached.load;
  rows.push({
    measurement: `reference \`openssl ocsp -index -port\` (1 process, a new connection per request), uncached / repeated, C=${o.concurrency}`,
    fleetca: `${fmt.rate(ru.perSecond)} / ${fmt.rate(ref.repeated.load.perSecond)}`,
    compare: `${limit ? `${fmt.pct(ru.perSecond / limit)} of the signing limit; ` : ""}responder CPU ${fmt.ms(ref.uncached.serverCpuMs! / Math.max(1, ru.answers))} per answer; load generator ${fmt.pct(ru.clientShare)} of the cores`,
    met: null,
  });
  if (ref.multi) {
    rows.push({
      measurement: `reference with \`-multi ${cores}\` (one responder process per core), uncached`,
      fleetca: fmt.rate(ref.multi.load.perSecond),
      compare: f ? `fleetca uncached ×${(f.uncached.load.perSecond / ref.multi.load.perSecond).toFixed(2)} of it` : undefined,
      met: null,
    });
  }
  const limitRow = (l: SigningLimit, what: string) => ({ measurement: `signing limit, ${what} (crypto.sign in ${l.threads} threads / openssl speed -multi ${l.threads}; the higher counts)`, fleetca: `${fmt.rate(l.nodePerSecond)} / ${l.opensslPerSecond ? fmt.rate(l.opensslPerSecond) : "-"}`, met: null });
  if (r.limit) rows.push(limitRow(r.limit, `CA key ${r.keyType}`));
  if (f?.signerLimit && f.signerLimit !== r.limit) rows.push(limitRow(f.signerLimit, `a ${f.signerLimit.keyType} key like the delegated responder's`));

  const strip = (s: Side | undefined) => s && { ...s, load: { ...s.load, samples: s.load.samples.length } };
  return {
    scenario: `ocsp-${r.keyType}`,
    title: `OCSP answers over HTTP, CA ${isRsa ? "RSA-4096" : "ECDSA P-256"}: fleetca against \`openssl ocsp\``,
    command: o.command,
    when: new Date().toISOString(),
    machine: machine(),
    rows,
    limits: limitsText(r),
    data: {
      certificates: r.certificates,
      revoked: r.revoked,
      questions: r.questions,
      setupMs: r.setupMs,
      durationMs: o.durationMs,
      concurrency: o.concurrency,
      limit: r.limit,
      reference: { command: r.reference.command, uncached: strip(ref.uncached), repeated: strip(ref.repeated), multi: ref.multi && { command: ref.multi.command, ...strip(ref.multi) } },
      fleetca: f && { url: f.url, signer: f.signer, signerLimit: f.signerLimit, uncached: strip(f.uncached), cached: strip(f.cached), staleness: f.staleness, uncachedCaSigner: strip(f.uncachedCaSigner), ceiling: f.ceiling && { ...f.ceiling, load: { ...f.ceiling.load, samples: 0 } } },
      fleetcaSkipped: r.fleetcaSkipped,
    },
  };
}

function limitsText(r: OcspRun): string {
  const isRsa = r.keyType === "rsa-4096";
  const f = r.fleetca;
  const per = (s: Side | undefined) => (s && s.serverCpuMs !== undefined ? fmt.ms(s.serverCpuMs / Math.max(1, s.load.answers)) : "?");
  const ref =
    `openssl's responder (\`${r.reference.command.replace(/ \/\S*\//g, " ")}\`) is one process with one thread: it accepts a connection, ` +
    "reads one request, signs with the CA key, answers over HTTP/1.0 and closes, so it uses at most one core and every answer " +
    "also pays a TCP connection on both sides." +
    (r.reference.multi
      ? ` With \`-multi ${cores}\` (forked processes on one socket) it answered ${fmt.rate(r.reference.multi.load.perSecond)} uncached against ${fmt.rate(r.reference.uncached.load.perSecond)}.`
      : "");
  if (!f) return `${ref} fleetca was not measured: ${r.fleetcaSkipped}.`;
  const uncached =
    (f.signer.delegated
      ? `fleetca signs with a delegated ${f.signer.keyType} responder certificate by default, so an uncached answer costs one ${f.signer.keyType} signature (a few hundredths of a ms)` +
        (isRsa ? " where the reference pays an RSA-4096 one (~4.7 ms of a core): that key choice is what puts fleetca past ×5." : ".")
      : `fleetca signs with the CA key (${f.signer.keyType}).`) +
    ` The uncached figure is then bounded by the server's own work per answer, ~${per(f.uncached)} of CPU (TLS records, HTTP and fastify, ` +
    "the request's DER, the response's encoding, a log line), mostly on its one event loop, not by the key: 80% of that key's " +
    "signing limit would need a few hundredths of a ms per answer." +
    (f.uncachedCaSigner ? ` With \`ocsp_signer: ca\` the CA's ${r.keyType} key signs every answer${isRsa ? " and the signatures are the bound (its ratio to the limit is in the table)" : ""}.` : "");
  const cached =
    `Repeated questions cost no signature: ~${per(f.cached)} of server CPU per answer, with the load generator on the same two cores. ` +
    (f.ceiling
      ? `The same client against node:https replaying one stored answer (no OCSP work, no routing, no log lines) reached ${fmt.rate(f.ceiling.load.perSecond)}: that is the ceiling for any Node HTTPS responder with this client here, and 20,000/s is above it.`
      : "");
  return `${uncached} ${cached} ${ref}`;
}

export async function ocspScenarios(o: OcspOptions): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const k of o.keyTypes ?? (["rsa-4096", "ec-p256"] as CaKeyType[])) out.push(ocspResult(await ocspOne(k, o), o));
  return out;
}
