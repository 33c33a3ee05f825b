/**
 * Bounds on connections, so that a client that opens connections and never finishes them
 * cannot hold the server's sockets (or memory) forever. Every phase has a time limit, each a
 * setting (docs/server.md, "Connection bounds"):
 *
 *   handshake_timeout   the TLS handshake                    (tls: handshakeTimeout)
 *   idle_timeout        nothing moves on the connection       (socket inactivity: before the
 *                       first request, or a response the client does not read)
 *   keep_alive_timeout  idle between two requests              (http: keepAliveTimeout)
 *   headers_timeout     the request's headers                  (http: headersTimeout)
 *   request_timeout     the whole request, headers and body    (http: requestTimeout; a body
 *                       trickled a byte at a time ends here)
 *
 * and the number of connections is bounded in all (max_connections, refused by Node as they
 * arrive) and per source address (max_connections_per_address; IPv6 by its /64, as flood.ts
 * counts). A refused connection is closed before TLS: it has no way to carry a message, so
 * refusals are logged instead, at most once a minute with how many there were.
 *
 * Node checks the header and request deadlines on a timer (connectionsCheckingInterval,
 * 30 s by default, which let a header trickle live ~95 s); here it runs every second.
 */
import type https from "node:https";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { Settings } from "../config/index.js";
import { sourceKey } from "./flood.js";

const CHECK_EVERY_MS = 1_000;
const LOG_EVERY_MS = 60_000;

/** The options of https.createServer that bound a connection's phases. */
export function timeoutOptions(s: Settings) {
  const requestTimeout = s.requestTimeout * 1000;
  return {
    handshakeTimeout: s.handshakeTimeout * 1000,
    requestTimeout,
    // Node refuses a headers timeout longer than the request timeout: the request one wins.
    headersTimeout: Math.min(s.headersTimeout * 1000, requestTimeout),
    keepAliveTimeout: s.keepAliveTimeout * 1000,
    connectionsCheckingInterval: CHECK_EVERY_MS,
  };
}

/** Applies the inactivity timeout and the connection bounds to a server made with timeoutOptions. */
export function boundConnections(server: https.Server, s: Settings, log: Logger): void {
  server.timeout = s.idleTimeout * 1000;
  server.maxConnections = s.maxConnections;
  const perAddress = new Map<string, number>();
  const refused = { total: 0, perAddress: 0, loggedAt: -Infinity };
  const note = (kind: "total" | "perAddress") => {
    refused[kind]++;
    const now = performance.now();
    if (now - refused.loggedAt < LOG_EVERY_MS) return;
    log.warn(
      { refusedOverMaxConnections: refused.total, refusedOverPerAddress: refused.perAddress, maxConnections: s.maxConnections, maxConnectionsPerAddress: s.maxConnectionsPerAddress },
      `Refused connections since the last report: ${refused.total} over max_connections ${s.maxConnections}, ` +
        `${refused.perAddress} over max_connections_per_address ${s.maxConnectionsPerAddress}. Reported at most once a minute.`,
    );
    refused.total = 0;
    refused.perAddress = 0;
    refused.loggedAt = now;
  };
  server.on("drop", () => note("total"));
  if (s.maxConnectionsPerAddress <= 0) return;
  server.on("connection", (socket: Socket) => {
    const key = sourceKey(socket.remoteAddress ?? "");
    const open = perAddress.get(key) ?? 0;
    if (open >= s.maxConnectionsPerAddress) {
      note("perAddress");
      socket.destroy();
      return;
    }
    perAddress.set(key, open + 1);
    socket.once("close", () => {
      const left = (perAddress.get(key) ?? 1) - 1;
      if (left <= 0) perAddress.delete(key);
      else perAddress.set(key, left);
    });
  });
}
