/**
 * HTTPS with optional client certificates, as Puppet Server's `client-auth: want`: the TLS
 * layer asks for a certificate and checks it against the CA but never refuses the
 * handshake, so agents without one can still fetch the CA and submit a CSR. Whether a
 * certificate counts is decided per request (client.ts), which is also where revocation is
 * enforced, so a revoke needs no new TLS context.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { SecureContextOptions, Server as TlsServer } from "node:tls";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./app.js";
import { boundConnections, timeoutOptions } from "./connections.js";
import type { ServerDeps } from "./deps.js";
import { fastGets } from "./puppet-ca/fast-gets.js";

export interface TlsMaterial {
  keyPem: string;
  certPem: string;
  /** The CA bundle client certificates must chain to. */
  caPem: string;
}

function secureContext(m: TlsMaterial): SecureContextOptions {
  return { key: m.keyPem, cert: m.certPem, ca: m.caPem, minVersion: "TLSv1.2" };
}

export interface RunningServer {
  app: FastifyInstance;
  /** e.g. https://127.0.0.1:8140 */
  url: string;
  port: number;
  /** New key, certificate or CA for handshakes from now on; open connections keep theirs. */
  reloadTls(m: TlsMaterial): void;
  /** Stops accepting, lets requests in flight finish, closes idle connections. */
  close(): Promise<void>;
  /** Requests the agents' GETs' fast lane answered (puppet-ca/fast-gets.ts), the rest having gone through fastify. */
  fastAnswered(): number;
}

export async function listen(deps: ServerDeps, tls: TlsMaterial, where: { host: string; port: number }): Promise<RunningServer> {
  let server: https.Server | undefined;
  // The agents' three GETs skip fastify (puppet-ca/fast-gets.ts); every other request, and any of those it does not answer, goes through it.
  const lane = fastGets(deps);
  const app = buildApp(deps, {
    serverFactory: (handler) => {
      const onRequest = (req: IncomingMessage, res: ServerResponse) => {
        if (!lane(req, res, () => handler(req, res))) handler(req, res);
      };
      server = https.createServer({ ...secureContext(tls), ...timeoutOptions(deps.settings), requestCert: true, rejectUnauthorized: false }, onRequest);
      boundConnections(server, deps.settings, deps.log);
      return server;
    },
  });
  await app.listen({ host: where.host, port: where.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    app,
    url: `https://${host}:${address.port}`,
    port: address.port,
    reloadTls: (m) => (server as unknown as TlsServer).setSecureContext(secureContext(m)),
    fastAnswered: () => lane.answered,
    close: async () => {
      // app.close() reaps connections idle at that moment; one serving a request in flight
      // becomes idle only when it answers, and would then linger until the keep-alive timeout.
      lane.close();
      const reaper = setInterval(() => server?.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(reaper);
      }
    },
  };
}
