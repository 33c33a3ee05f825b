/**
 * The web console's surface: the built front end (web/, built by `npm run build` into
 * dist/console/) served at /console with the headers that keep it safe: a strict
 * Content-Security-Policy (scripts and styles from this origin only, no inline script, no
 * framing), X-Frame-Options DENY, nosniff, no referrer. The pages hold no data: they read and
 * change everything through the JSON API (/api/v1), whose sessions and CSRF checks are in
 * session.ts and api/index.ts.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { ServerDeps } from "../deps.js";
import { addRoutes, type RouteSpec } from "../routing.js";

export const CONSOLE_PREFIX = "/console";

/** The built assets: <repo>/dist/console, the same from src/server/console (tsx) and dist/server/console. */
export const ASSET_DIR = resolve(import.meta.dirname, "../../../dist/console");

export const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join("; ");

const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", CSP)
    .header("x-frame-options", "DENY")
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin");
}

function load(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [url, { file }] of Object.entries(ASSETS)) {
    try {
      out.set(url, readFileSync(join(dir, file)));
    } catch {
      // Not built: answered with a message saying how to build.
    }
  }
  return out;
}

/** "/" answers both /console and /console/ (fastify's prefixTrailingSlash); the page links its assets absolutely. */
export const CONSOLE_ROUTES: readonly RouteSpec[] = Object.keys(ASSETS).map((url): RouteSpec => ({ method: "GET", url, rule: "console" }));

export function consolePlugin(_deps: ServerDeps, dir = ASSET_DIR) {
  return async (app: FastifyInstance): Promise<void> => {
    const files = load(dir);
    addRoutes(app, CONSOLE_PREFIX, CONSOLE_ROUTES, (spec) => async (_request, reply) => {
      secure(reply);
      const body = files.get(spec.url);
      if (!body) return reply.code(503).type("text/plain; charset=utf-8").send(`The console is not built on this server: run \`npm run build\` (it writes ${dir}).\n`);
      return reply.header("cache-control", spec.url === "/" ? "no-cache" : "public, max-age=300").type(ASSETS[spec.url]!.type).send(body);
    });
    app.setNotFoundHandler(async (_request, reply) => secure(reply).code(404).type("text/plain; charset=utf-8").send("Not found in the console.\n"));
  };
}
