/** The shape of a Puppet CA API route: a method, a URL, its rule, its handler, and Puppet's answers as data. */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { CaErrorKind } from "../../ca/errors.js";
import type { Settings } from "../../config/index.js";
import type { ServerDeps } from "../deps.js";
import type { RouteSpec } from "../routing.js";

export type Handler = (request: FastifyRequest, reply: FastifyReply, deps: ServerDeps) => Promise<FastifyReply>;

export interface PuppetRoute extends RouteSpec {
  readonly handler: Handler;
  /**
   * The route has a `:name` that Puppet's router restricts to [A-Za-z0-9._-]: any other name
   * is the router's HTML 404, before the handler runs.
   */
  readonly named?: boolean;
  /**
   * Puppet's answer, status 404, when the subject does not exist or cannot (a CaError of kind
   * not-found or invalid-name): its wording and content type differ from route to route.
   */
  readonly notFound?: { readonly body: (name: string) => string; readonly type: string };
  /** Statuses this route answers for some CaError kinds, where Puppet differs from STATUS_BY_KIND. */
  readonly statusOf?: Partial<Record<CaErrorKind, number>>;
  /**
   * The route submits something to be signed (server/flood.ts limits these per source):
   * "request" stores a pending request (the max_pending_requests cap applies too), "renewal" signs at once.
   */
  readonly submission?: "request" | "renewal";
  /** Largest request body, read from settings when the app is built. */
  readonly bodyLimit?: (settings: Settings) => number;
  /** The message for a body over that limit. */
  readonly tooLarge?: (limit: number) => string;
}
