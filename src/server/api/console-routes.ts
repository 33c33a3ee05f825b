/**
 * The JSON API's console calls: the session (log in, who am I, log out), the actions
 * (sign, reject, revoke, clean, for one or many names), the autosign entries, the console
 * users. Each names its rule (src/server/auth.ts); all are usable by scripts too.
 */
import { parseRole } from "../../ca/console/accounts.js";
import { LoginError } from "../../ca/console/access.js";
import { requestGrants } from "../../ca/console/views.js";
import { CaError, isCaError } from "../../ca/errors.js";
import { parseReason } from "../../ca/revocation.js";
import type { NameResult } from "../../ca/authority.js";
import { readAutosignEntries, testAutosign, writeAutosignEntries } from "../../host/autosign-entries.js";
import { identityOf, principalOf } from "../client.js";
import { accessFor, CLEARED_COOKIE, sessionCookie, sessionToken } from "../console/session.js";
import { objectBody, namesField, stringField } from "./bodies.js";
import { queryOf } from "./params.js";
import type { ApiRoute } from "./routes.js";

const LOGIN_SHAPE = '{"user": "alice", "password": "..."}';
const NAMES_SHAPE = '{"names": ["web1.example.com", ...]}';
const SIGN_SHAPE = '{"names": [...], "confirm": [names whose alt names or authorization extensions you accept]}';
const REVOKE_SHAPE = '{"names": [...], "reason": "keyCompromise" (optional, RFC 5280 name)}';
const USER_SHAPE = '{"name": "bob", "role": "viewer|operator|admin", "password": "at least 10 characters"}';
const USER_CHANGE_SHAPE = '{"role"?: "viewer|operator|admin", "password"?: "..."}';

/** Per-name results as JSON: {"name", "ok"} or {"name", "ok": false, "error": {"kind", "message"}}. */
function results(rs: readonly NameResult[]) {
  const items = rs.map((r) => (r.error ? { name: r.name, ok: false, error: { kind: r.error.kind, message: r.error.message } } : { name: r.name, ok: true }));
  return { ok: items.filter((i) => i.ok).length, failed: items.filter((i) => !i.ok).length, items };
}

function whoami(request: Parameters<ApiRoute["handler"]>[0]) {
  const { principal, session } = identityOf(request);
  if (principal.kind === "anonymous") throw new LoginError("unauthenticated", "Not logged in: log in with POST /api/v1/session, or present an admin client certificate.");
  return { kind: principal.kind, name: principal.name, roles: principal.roles, ...(session ? { csrf: session.csrf } : {}) };
}

const userJson = (u: { name: string; role: string; createdAt: Date; updatedAt: Date }) => ({ name: u.name, role: u.role, createdAt: u.createdAt.toISOString(), updatedAt: u.updatedAt.toISOString() });

/* prettier-ignore */
export const CONSOLE_ROUTES: readonly ApiRoute[] = [
  // GET /api/v1/session: who the caller is (session or certificate), and the session's CSRF token.
  { method: "GET", url: "/session", rule: "api session", async handler(request) {
    queryOf(request, []);
    return whoami(request);
  } },

  // POST /api/v1/session {"user", "password"}: logs in; sets the session cookie.
  { method: "POST", url: "/session", rule: "api session", async handler(request, deps, reply) {
    queryOf(request, []);
    const b = objectBody(request.body, ["user", "password"], LOGIN_SHAPE);
    const access = accessFor(deps.ca.store);
    const { token, live } = await access.login(stringField(b, "user", LOGIN_SHAPE)!, stringField(b, "password", LOGIN_SHAPE)!, request.ip);
    reply.header("set-cookie", sessionCookie(token, access.sessions.absoluteSeconds));
    return { kind: "session", name: live.user.name, roles: live.principal.roles, csrf: live.session.csrf };
  } },

  // DELETE /api/v1/session: logs out (the session ends on every server).
  { method: "DELETE", url: "/session", rule: "api session", async handler(request, deps, reply) {
    queryOf(request, []);
    const token = sessionToken(request);
    const ended = token ? await accessFor(deps.ca.store).logout(token, principalOf(request)) : false;
    reply.header("set-cookie", CLEARED_COOKIE);
    return { loggedOut: ended };
  } },

  // POST /api/v1/actions/sign {"names", "confirm"?}: a request that grants alt names or
  // authorization extensions is signed only when "confirm" names it.
  { method: "POST", url: "/actions/sign", rule: "api actions", async handler(request, { ca }) {
    queryOf(request, []);
    const b = objectBody(request.body, ["names", "confirm"], SIGN_SHAPE);
    const names = namesField(b, "names", SIGN_SHAPE);
    const confirmed = new Set(namesField(b, "confirm", SIGN_SHAPE, 1000, true));
    const by = principalOf(request);
    const refused: NameResult[] = [];
    const plain: string[] = [];
    const granting: string[] = [];
    for (const name of names) {
      let grants: string[];
      try {
        grants = await requestGrants(ca, name);
      } catch (e) {
        if (!isCaError(e)) throw e;
        // Left to sign() to refuse and audit in its own words (not found, already signed).
        grants = [];
      }
      if (grants.length === 0) plain.push(name);
      else if (confirmed.has(name)) granting.push(name);
      else refused.push({ name, error: new CaError("conflict", `Signing ${name} grants ${grants.join(", ")}: confirm it explicitly (list the name in "confirm").`) });
    }
    const signed = [...(await ca.signMany(plain, { by })), ...(await ca.signMany(granting, { by, allowDnsAltNames: true }))];
    return results([...signed, ...refused]);
  } },

  // POST /api/v1/actions/reject {"names"}: drops pending requests.
  { method: "POST", url: "/actions/reject", rule: "api actions", async handler(request, { ca }) {
    queryOf(request, []);
    const names = namesField(objectBody(request.body, ["names"], NAMES_SHAPE), "names", NAMES_SHAPE);
    const by = principalOf(request);
    const out: NameResult[] = [];
    for (const name of names) {
      try {
        await ca.deleteRequest(name, by);
        out.push({ name });
      } catch (e) {
        if (!isCaError(e)) throw e;
        out.push({ name, error: e });
      }
    }
    return results(out);
  } },

  // POST /api/v1/actions/revoke {"names", "reason"?}
  { method: "POST", url: "/actions/revoke", rule: "api actions", async handler(request, { ca }) {
    queryOf(request, []);
    const b = objectBody(request.body, ["names", "reason"], REVOKE_SHAPE);
    const reason = b.reason === undefined ? undefined : parseReason(stringField(b, "reason", REVOKE_SHAPE)!);
    return results(await ca.revoke(namesField(b, "names", REVOKE_SHAPE), principalOf(request), reason));
  } },

  // POST /api/v1/actions/clean {"names"}: revokes and removes the certificates (Puppet's clean).
  { method: "POST", url: "/actions/clean", rule: "api actions", async handler(request, { ca }) {
    queryOf(request, []);
    return results(await ca.clean(namesField(objectBody(request.body, ["names"], NAMES_SHAPE), "names", NAMES_SHAPE), principalOf(request)));
  } },

  // GET /api/v1/autosign: the mode and, for a glob file, its entries.
  { method: "GET", url: "/autosign", rule: "api read", async handler(request, { settings }) {
    queryOf(request, []);
    return readAutosignEntries(settings.autosign);
  } },

  // GET /api/v1/autosign/test?name=: whether a name would be signed automatically, and by which entry.
  { method: "GET", url: "/autosign/test", rule: "api read", async handler(request, { settings }) {
    const name = queryOf(request, ["name"]).get("name") ?? "";
    if (!/^[A-Za-z0-9._-]{1,253}$/.test(name)) throw new CaError("invalid-request", `name must be a certname (letters, digits, '.', '-', '_'), not ${JSON.stringify(name)}.`);
    return { name, ...testAutosign(await readAutosignEntries(settings.autosign), name) };
  } },

  // PUT /api/v1/autosign {"entries": ["*.example.com", ...]}: replaces the glob file's entries (admin).
  { method: "PUT", url: "/autosign", rule: "api autosign edit", async handler(request, { ca, settings }) {
    queryOf(request, []);
    const shape = '{"entries": ["*.example.com", "web1.example.com"]}';
    const entries = namesField(objectBody(request.body, ["entries"], shape), "entries", shape, 10_000, true);
    const after = await writeAutosignEntries(settings.autosign, entries);
    await ca.recordEvent("autosign-edited", principalOf(request), { detail: `${after.path}: ${entries.join(" ") || "(no entries)"}`.slice(0, 2000) });
    return after;
  } },

  // GET /api/v1/users: the console users (admin).
  { method: "GET", url: "/users", rule: "api users", async handler(request, { ca }) {
    queryOf(request, []);
    return { items: (await accessFor(ca.store).listUsers()).map(userJson) };
  } },

  // POST /api/v1/users {"name", "role", "password"} (admin).
  { method: "POST", url: "/users", rule: "api users", async handler(request, { ca }) {
    queryOf(request, []);
    const b = objectBody(request.body, ["name", "role", "password"], USER_SHAPE);
    const user = await accessFor(ca.store).addUser(stringField(b, "name", USER_SHAPE)!, parseRole(stringField(b, "role", USER_SHAPE)!), stringField(b, "password", USER_SHAPE)!, principalOf(request));
    return userJson(user);
  } },

  // PUT /api/v1/users/NAME {"role"?, "password"?} (admin): the user's sessions end.
  { method: "PUT", url: "/users/:user", example: "/users/example", rule: "api users", async handler(request, { ca }) {
    queryOf(request, []);
    const b = objectBody(request.body, ["role", "password"], USER_CHANGE_SHAPE);
    const role = b.role === undefined ? undefined : parseRole(stringField(b, "role", USER_CHANGE_SHAPE)!);
    const password = stringField(b, "password", USER_CHANGE_SHAPE, true);
    if (role === undefined && password === undefined) throw new CaError("invalid-request", `Nothing to change: ${USER_CHANGE_SHAPE}`);
    return userJson(await accessFor(ca.store).changeUser((request.params as { user: string }).user, { role, password }, principalOf(request)));
  } },

  // DELETE /api/v1/users/NAME (admin)
  { method: "DELETE", url: "/users/:user", example: "/users/example", rule: "api users", async handler(request, { ca }) {
    queryOf(request, []);
    const name = (request.params as { user: string }).user;
    if (name === principalOf(request).name && principalOf(request).kind === "session") throw new CaError("conflict", "You cannot delete the user you are logged in as; ask another admin, or use `fleetca console deluser`.");
    await accessFor(ca.store).deleteUser(name, principalOf(request));
    return { deleted: name };
  } },
];
