/**
 * Who is acting. Every CA operation carries one principal, made by the edge that knows the
 * caller: the TLS layer (a client certificate), the console (a session), the CLI (the local
 * unix user), or fleetca itself (autosign, setup). The authorization table is written over
 * the roles a principal holds, never over how it authenticated.
 */

/**
 * Roles, from least to most trusted:
 *   node      a client certificate issued by this CA and not revoked
 *   admin     a node certificate with pp_cli_auth or on the admin allow-list, the local operator,
 *             or a console user with the admin role
 *   viewer, operator   console roles (a console admin holds viewer, operator and admin)
 * "anonymous" and "self" are not held: anyone matches the first, and the second is decided
 * per request (the name in the path is the caller's own certname).
 */
export const ROLES = ["node", "admin", "viewer", "operator"] as const;
export type Role = (typeof ROLES)[number];

export type PrincipalKind = "anonymous" | "certificate" | "session" | "local" | "system";

export interface Principal {
  readonly kind: PrincipalKind;
  /** The certname, the console user, `cli:<user>@<host>`, or "autosign". Empty when anonymous. */
  readonly name: string;
  readonly roles: readonly Role[];
  /** Where the action came from: a peer address, or "local". */
  readonly from: string;
  /** Only for certificates: presented but not usable (revoked, another CA's, expired): why. */
  readonly refused?: string;
}

export function anonymous(from: string, refused?: string): Principal {
  return Object.freeze({ kind: "anonymous", name: "", roles: [] as Role[], from, ...(refused ? { refused } : {}) });
}

export function certificatePrincipal(certname: string, admin: boolean, from: string): Principal {
  return Object.freeze({ kind: "certificate", name: certname, roles: (admin ? ["node", "admin"] : ["node"]) as Role[], from });
}

/** A console role grants what the roles below it grant. */
export function sessionPrincipal(user: string, role: "viewer" | "operator" | "admin", from: string): Principal {
  const roles: Role[] = role === "viewer" ? ["viewer"] : role === "operator" ? ["viewer", "operator"] : ["viewer", "operator", "admin"];
  return Object.freeze({ kind: "session", name: user, roles, from });
}

/** The operator at the CA host's shell: whoever can read the CA key is its administrator. */
export function localPrincipal(user: string, host: string): Principal {
  return Object.freeze({ kind: "local", name: `cli:${user}@${host}`, roles: ["admin", "viewer", "operator"] as Role[], from: "local" });
}

/** fleetca acting on its own (autosign on behalf of a submitter, setup, import). */
export function systemPrincipal(name: string, from = "local"): Principal {
  return Object.freeze({ kind: "system", name, roles: [] as Role[], from });
}

export const hasRole = (p: Principal, role: Role): boolean => p.roles.includes(role);

/** How a principal reads in logs and the audit trail: "admin.example.com", "cli:root@ca1", "anonymous". */
export function principalLabel(p: Principal): string {
  if (p.kind === "anonymous") return "anonymous";
  if (p.kind === "session") return `console:${p.name}`;
  return p.name;
}
