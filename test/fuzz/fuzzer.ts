/**
 * The fuzzer: seeded cases against the parsers (CSR as PEM and DER, PEM, certificate, CRL and
 * OCSP DER, JSON bodies, YAML settings and csr_attributes) and every endpoint of the app (in
 * process, through inject, as an anonymous caller, a node and an admin). What counts as a
 * finding:
 *
 *   parsers    any exception other than the typed errors the parser documents (a TypeError,
 *              a RangeError, a stack overflow...), or a case taking longer than HANG_MS
 *   endpoints  a 5xx, a 4xx without a message, a refused request that changed the store
 *              (requests, certificates, serials, the CRL, revocations: the audit trail is
 *              expected to record refusals), or no answer within HANG_MS
 *
 * Cases depend only on the seed and their number: `scripts/fuzz.ts --seed S --only N` replays
 * one. test/fuzz/fuzz.test.ts runs a short form in CI; scripts/fuzz.ts the long one.
 */
import fs from "node:fs";
import path from "node:path";
import { CaError } from "../../src/ca/errors.js";
import { summarize } from "../../src/ca/summarize.js";
import { AgentError } from "../../src/agent/errors.js";
import { parseCsrAttributes } from "../../src/agent/csr-attributes.js";
import { ConfigError, loadSettings } from "../../src/config/index.js";
import { AltNameError, decodeAltNames, encodeAltNames } from "../../src/pki/altnames.js";
import { parseCertificateDer } from "../../src/pki/certificate.js";
import { crlInfo } from "../../src/pki/crl-info.js";
import { CsrError, parseCsrDer } from "../../src/pki/csr.js";
import { DerError } from "../../src/pki/der.js";
import { parseOcspRequest } from "../../src/pki/ocsp.js";
import { fromPem, PemError, pemBlocks } from "../../src/pki/pem.js";
import { API_PREFIX } from "../../src/server/api/index.js";
import { API_ROUTES } from "../../src/server/api/routes.js";
import { CONSOLE_PREFIX, CONSOLE_ROUTES } from "../../src/server/console/index.js";
import { OCSP_ROUTES } from "../../src/server/ocsp/index.js";
import { OPS_ROUTES } from "../../src/server/ops/index.js";
import { PUPPET_CA_PREFIX } from "../../src/server/puppet-ca/index.js";
import { PUPPET_CA_ROUTES } from "../../src/server/puppet-ca/routes/index.js";
import type { RouteSpec } from "../../src/server/routing.js";
import { openssl, tmpDir } from "../helpers/openssl.js";
import { as, makeFixture, type Fixture, type Identity } from "../helpers/server-fixture.js";
import { mutateBytes, mutateJson, mutateText, oddName, oddValue, Random } from "./random.js";

/** A case still running after this long is a hang. */
export const HANG_MS = 10_000;
/** A fresh CA every this many endpoint cases, so the store stays small and checks stay cheap. */
const FRESH_EVERY = 1_000;

export interface Finding {
  target: string;
  /** The case number, to replay it with the same seed. */
  caseNo: number;
  problem: string;
  /** What was sent (truncated). */
  input: string;
}

export interface Report {
  seed: number;
  cases: number;
  byTarget: Record<string, number>;
  statuses: Record<string, number>;
  /** Distinct (status, message start) of refused requests, with how often each came. */
  messages: Record<string, number>;
  findings: Finding[];
  ms: number;
}

/** The parsers' documented error types. */
const TYPED = [CaError, CsrError, DerError, PemError, AltNameError, ConfigError, AgentError];
const typed = (e: unknown) => TYPED.some((t) => e instanceof t);

interface Seeds {
  csrPem: string;
  csrDer: Buffer;
  certPem: string;
  certDer: Buffer;
  crlPem: string;
  crlDer: Buffer;
  ocspDer: Buffer;
  configYaml: string;
  authRulesYaml: string;
  csrAttributesYaml: string;
  altNamesDer: Buffer;
}

const SEEDS_DIR = path.join(import.meta.dirname, "seeds");

/**
 * The inputs mutations start from. Parser cases start from the files in seeds/ (public data
 * only, made once by a throwaway CA: a CSR with SANs and pp_role, a certificate, a CRL with one
 * entry, an OCSP request), so a seed gives the same bytes on every run. Endpoint cases use the
 * same CSR, and the live CA's CRL and an OCSP request for it, so mutations reach past the
 * issuer checks; their bytes differ per run with the CA's key, the mutations do not.
 */
async function makeSeeds(f: Fixture): Promise<{ parsers: Seeds; endpoints: Seeds }> {
  const read = (name: string) => fs.readFileSync(path.join(SEEDS_DIR, name));
  const csrPem = read("csr.pem").toString("latin1");
  const certPem = read("cert.pem").toString("latin1");
  const crlPem = read("crl.pem").toString("latin1");
  const parsers: Seeds = {
    csrPem,
    csrDer: fromPem(csrPem, ["CERTIFICATE REQUEST"], "CSR"),
    certPem,
    certDer: fromPem(certPem, ["CERTIFICATE"], "certificate"),
    crlPem,
    crlDer: fromPem(crlPem, ["X509 CRL"], "CRL"),
    ocspDer: read("ocsp-request.der"),
    configYaml: "key_type: ec\ncsr_rate: 5\nautosign: false\nca_ttl: 5y\ndns_alt_names: [puppet, ca.example.com]\nauth_rules:\n  - { path: /metrics, methods: [GET], allow: node }\n",
    authRulesYaml: "- { path: /puppet-ca/v1/certificate_statuses, methods: [GET], allow: [node, admin] }\n- { path: /metrics, methods: GET, allow: any }\n",
    csrAttributesYaml: "custom_attributes:\n  challengePassword: secret\nextension_requests:\n  pp_role: web\n  1.3.6.1.4.1.34380.1.1.12: prod\n",
    altNamesDer: encodeAltNames(["DNS:node.test", "DNS:puppet", "IP:10.0.0.1", "IP:::1"]),
  };
  const liveCrl = await f.ca.crlPem();
  const dir = tmpDir("fleetca-fuzz-seed-");
  try {
    const write = (name: string, text: string) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, text);
      return p;
    };
    const req = path.join(dir, "req.der");
    openssl(["ocsp", "-issuer", write("ca.pem", await f.ca.caCertificatePem()), "-cert", write("cert.pem", f.agent.certPem), "-reqout", req, "-nonce"]);
    return { parsers, endpoints: { ...parsers, certPem: f.agent.certPem, crlPem: liveCrl, ocspDer: fs.readFileSync(req) } };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const show = (x: string | Buffer) => (typeof x === "string" ? JSON.stringify(x.length > 300 ? `${x.slice(0, 300)}…(${x.length})` : x) : `base64:${x.subarray(0, 400).toString("base64")}${x.length > 400 ? `…(${x.length} bytes)` : ""}`);

type ParserCase = { target: string; input: string | Buffer; run: () => unknown };

/** One parser case. */
function parserCase(r: Random, s: Seeds, ca: Fixture["ca"], scratch: string): ParserCase {
  switch (r.int(10)) {
    case 0: {
      const input = mutateText(r, s.csrPem);
      return { target: "csr (PEM, the CA's checks)", input, run: () => ca.parseRequest(input) };
    }
    case 1: {
      const input = mutateBytes(r, s.csrDer);
      return { target: "csr (DER)", input, run: () => parseCsrDer(input) };
    }
    case 2: {
      const input = mutateText(r, r.chance(0.5) ? s.certPem : s.crlPem);
      return { target: "pem", input, run: () => (pemBlocks(input), fromPem(input, ["CERTIFICATE", "X509 CRL"], "certificate")) };
    }
    case 3: {
      const input = mutateBytes(r, s.certDer);
      return { target: "certificate (DER)", input, run: () => parseCertificateDer(input) };
    }
    case 4: {
      const input = mutateBytes(r, s.crlDer);
      return { target: "crl (DER)", input, run: () => crlInfo(input) };
    }
    case 5: {
      const input = mutateBytes(r, s.ocspDer);
      return { target: "ocsp request (DER)", input, run: () => parseOcspRequest(input) };
    }
    case 6: {
      const input = mutateText(r, s.authRulesYaml);
      return { target: "yaml (auth_rules from the environment)", input, run: () => loadSettings({ file: null, env: { FLEETCA_AUTH_RULES: input } }) };
    }
    case 7: {
      const input = r.chance(0.3) ? JSON.stringify(oddValue(r)) : mutateText(r, s.configYaml);
      const file = path.join(scratch, "fleetca.yaml");
      return {
        target: "yaml (config file)",
        input,
        run: () => {
          fs.writeFileSync(file, input);
          return loadSettings({ file, env: {} });
        },
      };
    }
    case 8: {
      const input = mutateText(r, s.csrAttributesYaml);
      return { target: "yaml (csr_attributes)", input, run: () => parseCsrAttributes(input, "csr_attributes.yaml") };
    }
    default: {
      // JSON bodies are fuzzed through the endpoints that read them; here, the SAN decoder of CSRs and certificates.
      const input = mutateBytes(r, s.altNamesDer);
      return { target: "subjectAltName (DER)", input, run: () => decodeAltNames(input) };
    }
  }
}

interface Route {
  method: string;
  url: string;
  spec: RouteSpec;
}

const ROUTES: Route[] = [
  ...PUPPET_CA_ROUTES.map((spec) => ({ method: spec.method, url: PUPPET_CA_PREFIX + spec.url, spec })),
  ...API_ROUTES.map((spec) => ({ method: spec.method, url: API_PREFIX + spec.url, spec })),
  ...OPS_ROUTES.map((spec) => ({ method: spec.method, url: spec.url, spec })),
  ...OCSP_ROUTES.map((spec) => ({ method: spec.method, url: spec.url, spec })),
  ...CONSOLE_ROUTES.map((spec) => ({ method: spec.method, url: CONSOLE_PREFIX + (spec.url === "/" ? "" : spec.url), spec })),
];

const CONTENT_TYPES = ["text/plain", "application/json", "application/x-www-form-urlencoded", "application/ocsp-request", "text/pson", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "", "*/*", "text/plain; charset=bogus"];
const QUERY_KEYS = ["state", "level", "timeout", "service_status_version", "limit", "since", "name", "action", "expires_within", "page", "cursor", "q", "sort", "state[]", "__proto__"];

function bodyFor(r: Random, route: Route, s: Seeds): string | Buffer | undefined {
  const u = route.url;
  if (r.chance(0.05)) return r.bytes(r.int(3000));
  if (u.includes("certificate_request")) return mutateText(r, s.csrPem);
  if (u.endsWith("certificate_revocation_list")) return mutateText(r, s.crlPem);
  if (u.startsWith("/ocsp")) return mutateBytes(r, s.ocspDer);
  if (u.includes("certificate_status/")) return mutateJson(r, { desired_state: r.pick(["signed", "revoked"]), cert_ttl: 3600 });
  if (u.endsWith("/sign") || u.endsWith("/clean")) return mutateJson(r, { certnames: [oddName(r), "node.test"] });
  if (u.includes("/generate/")) return mutateJson(r, { dns_alt_names: ["DNS:x.test"] });
  if (u.includes("/actions/")) return mutateJson(r, { names: [oddName(r), "node.test"], confirm: [], reason: "keyCompromise" });
  if (u.endsWith("/session")) return mutateJson(r, { user: oddName(r), password: "correct horse battery" });
  if (u.includes("/users")) return mutateJson(r, { name: oddName(r), role: r.pick(["viewer", "operator", "admin", "root"]), password: "0123456789ab" });
  if (u.endsWith("/autosign")) return mutateJson(r, { patterns: ["*.example.com", oddName(r)] });
  if (u.endsWith("/revocations")) return mutateJson(r, { names: [oddName(r)], serials: ["2"], reason: "keyCompromise" });
  if (route.method === "GET" || route.method === "DELETE") return r.chance(0.8) ? undefined : mutateJson(r, {});
  return mutateJson(r, {});
}

function urlFor(r: Random, route: Route, s: Seeds): string {
  let url = route.url
    .replace(":name", () => oddName(r))
    .replace(":serial", () => r.pick(["2", "0x2", "1F", "-1", "zz", "0", "ffffffffffffffffffffffffffffffffffffffffffff", oddName(r)]))
    .replace(":service", () => r.pick(["ca", "x", oddName(r)]))
    .replace(":user", () => r.pick(["alice", "admin", oddName(r)]))
    .replace("*", () => (r.chance(0.5) ? encodeURIComponent(mutateBytes(r, s.ocspDer).toString("base64")) : oddName(r)));
  if (r.chance(0.3)) {
    const n = 1 + r.int(3);
    const parts = Array.from({ length: n }, () => `${r.pick(QUERY_KEYS)}=${encodeURIComponent(String(oddValue(r, 3)))}`);
    url += `?${parts.join("&")}`;
  }
  if (r.chance(0.03)) url = url.replace("/v1/", r.pick(["/v1//", "/V1/", "/v1/./", "/v2/"]));
  return url;
}

/** What must not change when a request is refused (the audit trail may: refusals are recorded). */
async function storeState(f: Fixture): Promise<string> {
  const store = f.store;
  const index = await store.listIndex(summarize);
  const revocations = await store.listRevocations();
  return [await store.peekSerial(), await store.materialVersion(), await store.getCrl(), revocations.length, ...index.map((e) => `${e.name}:${e.state}:${e.sha256}`).sort()].join("|");
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | "hang"> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<"hang">((resolve) => (timer = setTimeout(() => resolve("hang"), ms)))]).finally(() => clearTimeout(timer));
};

/** Messages that say nothing a user could act on. */
const EMPTY_MESSAGES = new Set(["", "Bad Request", "Error", "error", "{}", "undefined", "null"]);

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** Only this case (replay). */
  only?: number;
  onProgress?: (done: number, findings: number) => void;
}

export async function runFuzz(o: FuzzOptions): Promise<Report> {
  const t0 = performance.now();
  const report: Report = { seed: o.seed, cases: 0, byTarget: {}, statuses: {}, messages: {}, findings: [], ms: 0 };
  const seen = new Set<string>();
  const found = (target: string, caseNo: number, problem: string, input: string) => {
    // One finding per target and kind of problem (numbers and names masked), the first case kept.
    const key = `${target}|${problem.replace(/\d+/g, "N").slice(0, 120)}`;
    if (seen.has(key)) return;
    seen.add(key);
    report.findings.push({ target, caseNo, problem, input });
  };
  const crashes: string[] = [];
  const onCrash = (e: unknown) => crashes.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);
  const scratch = tmpDir("fleetca-fuzz-");
  let f = await makeFixture({ csrRate: 0 });
  const seeds = await makeSeeds(f);
  let node: Identity = await f.issue("node.test");
  let endpointCases = 0;
  try {
    const first = o.only ?? 0;
    const last = o.only === undefined ? o.cases : o.only + 1;
    for (let caseNo = first; caseNo < last; caseNo++) {
      // Each case's randomness comes from the seed and its number alone.
      const r = new Random((o.seed * 0x9e3779b1) ^ Math.imul(caseNo + 1, 0x85ebca6b));
      report.cases++;
      if (r.chance(0.45)) {
        const c = parserCase(r, seeds.parsers, f.ca, scratch);
        report.byTarget[c.target] = (report.byTarget[c.target] ?? 0) + 1;
        const start = performance.now();
        try {
          c.run();
        } catch (e) {
          if (!typed(e)) found(c.target, caseNo, `${(e as Error).name}: ${(e as Error).message}`, show(c.input));
        }
        const ms = performance.now() - start;
        if (ms > HANG_MS) found(c.target, caseNo, `took ${Math.round(ms)} ms`, show(c.input));
      } else {
        if (++endpointCases % FRESH_EVERY === 0) {
          await f.app.close();
          f = await makeFixture({ csrRate: 0 });
          node = await f.issue("node.test");
        }
        const route = r.chance(0.97) ? r.pick(ROUTES) : { ...r.pick(ROUTES), method: r.pick(["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD"]) };
        const target = `${route.method} ${route.url}`;
        report.byTarget[target] = (report.byTarget[target] ?? 0) + 1;
        const url = urlFor(r, route, seeds.endpoints);
        const body = bodyFor(r, route, seeds.endpoints);
        const type = r.pick(CONTENT_TYPES);
        // Admins most often: their routes reach the deepest code.
        const caller = r.pick([undefined, node, f.admin, f.admin]);
        const headers = as(caller, type ? { "content-type": type } : {});
        if (r.chance(0.05)) headers["accept"] = r.pick(["application/json", "text/pson", "*/*", "text/html", oddName(r)]);
        const before = await storeState(f);
        const input = `${route.method} ${url} as ${caller?.name ?? "anonymous"} (${type || "no type"}): ${body === undefined ? "no body" : show(body)}`;
        const res = await within(f.app.inject({ method: route.method as "GET", url, headers, payload: body }), HANG_MS);
        if (res === "hang") {
          found(target, caseNo, `no answer within ${HANG_MS} ms`, input);
          continue;
        }
        const key = String(res.statusCode);
        report.statuses[key] = (report.statuses[key] ?? 0) + 1;
        if (res.statusCode >= 500) found(target, caseNo, `${res.statusCode}: ${res.body.slice(0, 200)}`, input);
        if (res.statusCode >= 400 && res.statusCode < 500) {
          const message = res.body.trim();
          const m = `${res.statusCode} ${message.replace(/\d+/g, "N").slice(0, 70)}`;
          report.messages[m] = (report.messages[m] ?? 0) + 1;
          // HEAD answers have no body by definition.
          if (route.method !== "HEAD" && EMPTY_MESSAGES.has(message)) found(target, caseNo, `${res.statusCode} without a message (${JSON.stringify(message)})`, input);
          const after = await storeState(f);
          if (after !== before) found(target, caseNo, `${res.statusCode} refused, but the store changed`, input);
        }
      }
      for (const c of crashes.splice(0)) found("process", caseNo, `uncaught: ${c.split("\n").slice(0, 3).join(" / ")}`, "");
      if (o.onProgress && report.cases % 5000 === 0) o.onProgress(report.cases, report.findings.length);
    }
  } finally {
    process.off("uncaughtException", onCrash);
    process.off("unhandledRejection", onCrash);
    await f.app.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  report.ms = Math.round(performance.now() - t0);
  return report;
}
