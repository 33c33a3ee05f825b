/** Console users (admins only): add, change role or password, delete. */
import { api, messageOf } from "./api.js";
import { confirmDialog, fill, h, main, say } from "./dom.js";

interface User {
  name: string;
  role: string;
  updatedAt: string;
}

const ROLES = ["viewer", "operator", "admin"];

export async function usersPage(me: string): Promise<void> {
  let users: User[];
  try {
    users = (await api<{ items: User[] }>("GET", "/users")).items;
  } catch (e) {
    return fill(main(), h("h1", {}, "Console users"), h("p", { class: "error", role: "alert" }, messageOf(e)));
  }
  const name = h("input", { id: "new-user", autocomplete: "off", required: true });
  const role = h("select", { id: "new-role" }, ...ROLES.map((r) => h("option", { value: r }, r)));
  const password = h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const reload = () => void usersPage(me);
  fill(main(), h("h1", {}, "Console users"),
    h("table", {}, h("caption", {}, "Users who may log in to the console"),
      h("thead", {}, h("tr", {}, ...["Name", "Role", "Password set", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...users.map((u) => {
        const sel = h("select", { "aria-label": `Role of ${u.name}` }, ...ROLES.map((r) => h("option", { value: r, selected: r === u.role }, r)));
        return h("tr", {}, h("th", { scope: "row" }, u.name), h("td", {}, sel), h("td", {}, u.updatedAt),
          h("td", {},
            h("button", { type: "button", onclick: async () => {
              try {
                await api("PUT", `/users/${encodeURIComponent(u.name)}`, { role: sel.value });
                say(`${u.name} is now ${sel.value}.`);
                reload();
              } catch (e) {
                say(messageOf(e));
              }
            } }, "Save role"), " ",
            u.name === me ? null : h("button", { type: "button", class: "danger", onclick: async () => {
              if (!(await confirmDialog(`Delete ${u.name}?`, [h("p", {}, "The user can no longer log in; their sessions end.")], "Delete"))) return;
              try {
                await api("DELETE", `/users/${encodeURIComponent(u.name)}`);
                say(`Deleted ${u.name}.`);
                reload();
              } catch (e) {
                say(messageOf(e));
              }
            } }, "Delete")));
      }))),
    h("h2", {}, "Add a user"),
    h("form", { class: "inline", onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        await api("POST", "/users", { name: name.value.trim(), role: role.value, password: password.value });
        say(`Added ${name.value.trim()}.`);
        reload();
      } catch (err) {
        say(`Not added: ${messageOf(err)}`);
      }
    } }, h("label", { for: "new-user" }, "Name", name), h("label", { for: "new-role" }, "Role", role), h("label", { for: "new-password" }, "Password (10 characters or more)", password), h("button", { type: "submit", class: "primary" }, "Add user")));
}
