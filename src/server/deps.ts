/** What the server needs, and the shape every route file exports. */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { Actor, CertificateAuthority } from "../ca/authority.js";
import type { Settings } from "../config/index.js";
import type { Client, PeerSource } from "./client.js";

/**
 * The server's collaborators. `ca` and `settings` are read on every request, so a reload
 * (SIGHUP) replaces them in place and the next request sees the new ones; requests in
 * flight finish with the ones they started with.
 */
export interface ServerDeps {
  ca: CertificateAuthority;
  settings: Settings;
  log: Logger;
  /** Where the client certificate comes from; default: the TLS socket. Tests inject one. */
  peer?: PeerSource;
}

export type Method = "GET" | "PUT" | "POST" | "DELETE";

export type Handler = (request: FastifyRequest, reply: FastifyReply, deps: ServerDeps) => Promise<FastifyReply>;

/** One endpoint: a URL pattern and what each method does there. */
export interface Endpoint {
  readonly url: string;
  readonly methods: Partial<Record<Method, Handler>>;
  /** Largest request body, read from settings when the app is built. */
  readonly bodyLimit?: (settings: Settings) => number;
  /** The message for a body over that limit. */
  readonly tooLarge?: (limit: number) => string;
}

const clients = new WeakMap<FastifyRequest, Client>();

export function setClient(request: FastifyRequest, client: Client): void {
  clients.set(request, client);
}

/** The caller's certificate identity (also set when it is revoked or foreign: check `authenticated`). */
export function clientOf(request: FastifyRequest): Client | undefined {
  return clients.get(request);
}

/** Who did it, for the audit log: the authenticated certname, or "anonymous"; and the peer address. */
export function actorOf(request: FastifyRequest): Actor {
  const client = clientOf(request);
  return { who: client?.authenticated ? client.certname : "anonymous", from: request.ip };
}

/** The `:name` path parameter. */
export function nameParam(request: FastifyRequest): string {
  return (request.params as { name?: string }).name ?? "";
}
