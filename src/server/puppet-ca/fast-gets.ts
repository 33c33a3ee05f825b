/**
 * The three GETs of every agent run (certificate/ca, certificate_revocation_list/ca,
 * certificate/NAME), answered beside fastify instead of through it. Its routing, hooks and
 * reply machinery cost ~20-40 us of server CPU per request here, half of what such a GET
 * costs in all (docs/performance.md, "The fast lane"), and an enrollment makes three of them.
 *
 * Only the plain success is answered here, by the same parts the routes use: the caller
 * identified (client.ts) and authorized by the same rule table (auth.ts), the answer the
 * route computes (caCertificateAnswer, crlAnswer, the CA's certificate read), Puppet's
 * headers, the request's log line and metrics as app.ts writes them. Everything else goes
 * to fastify untouched, before a byte is written: another method or a query string, a
 * denial (fastify logs and renders the 403), a certificate that is not there (the 404), a
 * failure, a server that is closing. The parity test (test/server-fast-gets.test.ts) holds
 * the two paths to the same answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal } from "../../ca/principal.js";
import { authorize, rulesFor } from "../auth.js";
import { identify, tlsPeer, type CallerRequest } from "../client.js";
import type { ServerDeps } from "../deps.js";
import { logRequest } from "../log.js";
import { metricsOf } from "../ops/index.js";
import { ROUTER_NAME, TYPE } from "../reply.js";
import { isNotModified, lastModifiedHeader } from "./conditional.js";
import { PUPPET_CA_PREFIX, PUPPET_VERSION_HEADER } from "./index.js";
import { caCertificateAnswer } from "./routes/certificate.js";
import { crlAnswer } from "./routes/certificate-revocation-list.js";

const CA_URL = `${PUPPET_CA_PREFIX}/certificate/ca`;
const CRL_URL = `${PUPPET_CA_PREFIX}/certificate_revocation_list/ca`;
const CERT_PREFIX = `${PUPPET_CA_PREFIX}/certificate/`;
/** The route patterns fastify's metrics label these requests with. */
const CERT_ROUTE = `${PUPPET_CA_PREFIX}/certificate/:name`;
const CRL_ROUTE = `${PUPPET_CA_PREFIX}/certificate_revocation_list/:name`;

interface Answer {
  status: 200 | 304;
  body?: string;
  lastModified?: Date;
  principal: Principal;
}

export interface FastGets {
  /** Takes `req` and returns true (answering it, or handing it to `fallback` before writing anything), or returns false. */
  (req: IncomingMessage, res: ServerResponse, fallback: () => void): boolean;
  /** From now on everything goes to fastify (its 503 while closing). */
  close(): void;
  /** Requests answered here so far. */
  readonly answered: number;
}

export function fastGets(deps: ServerDeps): FastGets {
  let closing = false;
  let answered = 0;
  const lane = (req: IncomingMessage, res: ServerResponse, fallback: () => void): boolean => {
    if (closing || req.method !== "GET") return false;
    const url = req.url ?? "";
    let name: string;
    if (url === CA_URL || url === CRL_URL) name = "ca";
    else if (url.startsWith(CERT_PREFIX) && ROUTER_NAME.test(url.slice(CERT_PREFIX.length))) name = url.slice(CERT_PREFIX.length);
    else return false; // ROUTER_NAME admits no "/", "?" or "%": the name is the whole rest of a plain path
    const started = performance.now();
    answer(req, url, name)
      .then(
        (a) => (a && !closing ? send(res, url, a, started) : fallback()),
        () => fallback(),
      )
      // What throws after the answer is chosen (writing it, counting or logging it) must not
      // become an unhandled rejection, which would stop the server: the request is dropped.
      .catch((err: unknown) => dropped(res, url, err));
    return true;
  };

  const dropped = (res: ServerResponse, url: string, err: unknown): void => {
    res.destroy();
    try {
      deps.log.error({ path: url, error: err instanceof Error ? err.message : String(err) }, "A GET answered beside fastify failed; its connection was closed.");
    } catch {
      // A logger that throws has nothing more to say; the connection is closed either way.
    }
  };

  const answer = async (req: IncomingMessage, url: string, name: string): Promise<Answer | undefined> => {
    const caller: CallerRequest = { ip: req.socket.remoteAddress ?? "", headers: req.headers, raw: req };
    const { principal } = await identify(caller, deps.peer ?? tlsPeer, deps.ca, deps.settings);
    // app.ts's hook logs a warning for every request of an old CA's node: its path says it.
    if (principal.refused?.startsWith("issued by the previous CA")) return undefined;
    if (!authorize(rulesFor(deps.settings), "GET", url, { principal, subject: name }).allowed) return undefined;
    if (url !== CA_URL && url !== CRL_URL) {
      const body = await deps.ca.getCertificatePem(name).catch(() => undefined);
      return body === undefined ? undefined : { status: 200, body, principal };
    }
    const { body, lastModified } = await (url === CA_URL ? caCertificateAnswer : crlAnswer)(deps.ca, new Date());
    if (isNotModified(req.headers["if-modified-since"], lastModified)) return { status: 304, lastModified, principal };
    return { status: 200, body, lastModified, principal };
  };

  const send = (res: ServerResponse, url: string, a: Answer, started: number): void => {
    const body = a.body === undefined ? undefined : Buffer.from(a.body, "utf8");
    const headers: Record<string, string | number> = {};
    if (a.lastModified) headers["last-modified"] = lastModifiedHeader(a.lastModified);
    if (body) {
      headers["content-type"] = TYPE.text;
      headers["content-length"] = body.length;
    }
    headers["x-puppet-version"] = PUPPET_VERSION_HEADER;
    res.writeHead(a.status, headers);
    res.end(body);
    answered++;
    const ms = performance.now() - started;
    metricsOf(deps).observe(url === CRL_URL ? CRL_ROUTE : CERT_ROUTE, "GET", a.status, ms / 1000);
    // The line app.ts's onResponse hook writes.
    const client = a.principal.kind === "certificate" ? a.principal.name : "-";
    logRequest(deps.log, { method: "GET", path: url, status: a.status, ms: Math.round(ms * 10) / 10, client });
  };

  return Object.defineProperties(lane, {
    close: { value: () => void (closing = true) },
    answered: { get: () => answered },
  }) as FastGets;
}
