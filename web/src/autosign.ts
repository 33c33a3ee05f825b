/** The autosign allow-list: shown to all, edited by admins, with Puppet's matching rules tried on a test name. */
import { api, messageOf, query } from "./api.js";
import { fill, h, main, say } from "./dom.js";

interface Entries {
  mode: "off" | "on" | "file" | "command";
  path?: string;
  editable: boolean;
  entries: { line: number; pattern: string }[];
  invalid: { line: number; pattern: string }[];
}

const RULES = [
  "* alone matches every name.",
  "A leading * (*.example.com) matches example.com and every name under it, whole labels only: *.example.com matches a.b.example.com but not badexample.com.",
  "Anything else matches exactly that name. Matching ignores case.",
  "Blank lines and lines starting with # are skipped; a line with spaces or # inside is invalid and skipped.",
];

export async function autosignPage(isAdmin: boolean): Promise<void> {
  fill(main(), h("h1", {}, "Autosign entries"), h("p", {}, "Loading…"));
  let data: Entries;
  try {
    data = await api<Entries>("GET", "/autosign");
  } catch (e) {
    return fill(main(), h("h1", {}, "Autosign entries"), h("p", { class: "error", role: "alert" }, messageOf(e)));
  }
  const result = h("p", { id: "autosign-result", role: "status" });
  const testInput = h("input", { id: "autosign-test", autocomplete: "off" });
  const mode = { off: "off: nothing is signed automatically", on: "on: every request is signed automatically", file: `a glob file (${data.path})`, command: `a policy executable (${data.path})` }[data.mode];
  const editor = isAdmin && data.editable ? h("textarea", { id: "autosign-entries", rows: 8, cols: 50 }, data.entries.map((e) => e.pattern).join("\n")) : null;
  fill(main(), h("h1", {}, "Autosign entries"),
    h("p", {}, "Autosign is ", mode, "."),
    data.mode === "file" ? h("ul", { id: "autosign-list" }, ...data.entries.map((e) => h("li", {}, h("code", {}, e.pattern), ` (line ${e.line})`))) : null,
    data.invalid.length ? h("p", { class: "warn" }, "Invalid lines, skipped: ", data.invalid.map((e) => `${e.line}: ${e.pattern}`).join("; ")) : null,
    editor ? h("form", { onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        await api("PUT", "/autosign", { entries: editor.value.split("\n").map((l) => l.trim()).filter(Boolean) });
        say("Autosign entries saved.");
        await autosignPage(isAdmin);
      } catch (err) {
        say(`Not saved: ${messageOf(err)}`);
      }
    } }, h("label", { for: "autosign-entries" }, "Entries, one per line", editor), h("p", {}, h("button", { type: "submit", class: "primary" }, "Save entries"))) : null,
    h("h2", {}, "Try a name"),
    h("form", { class: "inline", onsubmit: async (e: Event) => {
      e.preventDefault();
      try {
        const r = await api<{ signs: boolean; rule: string }>("GET", `/autosign/test${query({ name: testInput.value.trim() })}`);
        fill(result, r.signs ? "Signed automatically. " : "Not signed automatically. ", r.rule);
      } catch (err) {
        fill(result, messageOf(err));
      }
    } }, h("label", { for: "autosign-test" }, "Certname", testInput), h("button", { type: "submit" }, "Test")),
    result,
    h("h2", {}, "How entries match (Puppet's rules)"), h("ul", {}, ...RULES.map((r) => h("li", {}, r))));
}
