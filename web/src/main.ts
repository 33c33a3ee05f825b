/**
 * The console's entry: who is logged in (GET /api/v1/session), the login form otherwise,
 * and a hash router over the pages. Roles decide what is offered: a viewer gets no action
 * buttons (and the API refuses the actions anyway), only admins see Users and can edit
 * autosign entries.
 */
import { api, dropPrefetched, isApiError, messageOf, prefetch, setCsrf, type Me } from "./api.js";
import { auditPage } from "./audit.js";
import { autosignPage } from "./autosign.js";
import { certificatePage, certificatePath } from "./certificate.js";
import { certificatesPage, certificatesPath } from "./certificates.js";
import { fill, h, main, say } from "./dom.js";
import { OVERVIEW_PATHS, overviewPage } from "./overview.js";
import { pendingPage, pendingPath } from "./pending.js";
import { usersPage } from "./users.js";

let me: Me | undefined;
let stop: (() => void) | undefined;

const can = (role: string) => me?.roles.includes(role) ?? false;

function loginPage(problem?: string): void {
  fill(document.getElementById("nav")!);
  fill(document.getElementById("who")!);
  const user = h("input", { id: "login-user", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { id: "login-error", class: "error", role: "alert" }, problem ?? "");
  fill(main(), h("section", { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in to the fleetca console"),
    h("form", { onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        me = await api<Me>("POST", "/session", { user: user.value, password: password.value });
        setCsrf(me.csrf);
        start();
      } catch (err) {
        fill(error, messageOf(err));
        password.value = "";
        password.focus();
      }
    } },
      h("label", { for: "login-user" }, "User name", user),
      h("label", { for: "login-password" }, "Password", password),
      h("button", { type: "submit", class: "primary" }, "Log in")),
    error));
  user.focus();
}

const PAGES: [string, string, string?][] = [
  ["pending", "Pending requests"], ["certificates", "Certificates"], ["overview", "CA overview"],
  ["autosign", "Autosign"], ["audit", "Audit log"], ["users", "Users", "admin"],
];

function nav(current: string): void {
  fill(document.getElementById("nav")!, h("ul", {}, ...PAGES.filter(([, , role]) => !role || can(role)).map(([id, label]) =>
    h("li", {}, h("a", { href: `#/${id}`, "aria-current": id === current ? "page" : undefined }, label)))));
  fill(document.getElementById("who")!, h("span", {}, me!.name, ` (${me!.roles.filter((r) => r !== "node").join(", ")})`),
    me!.kind === "session" ? h("button", { type: "button", id: "logout", onclick: logout }, "Log out") : null);
}

async function logout(): Promise<void> {
  try {
    await api("DELETE", "/session");
  } finally {
    me = undefined;
    setCsrf(undefined);
    stop?.();
    location.hash = "";
    loginPage("Logged out.");
  }
}

/** The page the hash names, its parameters and the rest of its path. */
function where(): { page: string; params: URLSearchParams; rest: string[] } {
  const [path = "", search = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [page = "pending", ...rest] = path.split("/");
  return { page, params: new URLSearchParams(search), rest };
}

/** The API paths the first page will read, fetched alongside the session check. */
function firstPageData(): string[] {
  const { page, params, rest } = where();
  switch (page) {
    case "certificates":
      return [certificatesPath(params)];
    case "certificate":
      return [certificatePath(decodeURIComponent(rest.join("/")))];
    case "overview":
      return OVERVIEW_PATHS;
    case "autosign":
    case "audit":
    case "users":
      return [];
    default:
      return [pendingPath(params.get("search") ?? "")];
  }
}

function route(): void {
  if (!me) return;
  stop?.();
  stop = undefined;
  const { page, params, rest } = where();
  nav(page);
  const operator = can("operator") || can("admin");
  switch (page) {
    case "certificates":
      certificatesPage(params, operator);
      break;
    case "certificate":
      certificatePage(decodeURIComponent(rest.join("/")), operator);
      break;
    case "overview":
      void overviewPage();
      break;
    case "autosign":
      void autosignPage(can("admin"));
      break;
    case "audit":
      auditPage(params);
      break;
    case "users":
      if (can("admin")) void usersPage(me.name);
      else fill(main(), h("h1", {}, "Users"), h("p", {}, "Only admins manage console users."));
      break;
    default:
      stop = pendingPage(operator, params.get("search") ?? "");
  }
  document.title = `${PAGES.find(([id]) => id === page)?.[1] ?? "Pending requests"} · fleetca console`;
}

function start(): void {
  route();
  dropPrefetched();
  main().focus();
}

window.addEventListener("hashchange", () => {
  route();
  main().focus();
});

async function boot(): Promise<void> {
  prefetch(firstPageData());
  try {
    me = await api<Me>("GET", "/session");
    setCsrf(me.csrf);
    start();
  } catch (e) {
    dropPrefetched();
    if (isApiError(e) && e.status === 401) loginPage();
    else {
      fill(main(), h("p", { class: "error", role: "alert" }, messageOf(e)));
      say("The console could not reach the server.");
    }
  }
}

void boot();
