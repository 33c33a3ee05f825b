/**
 * Building the page without HTML strings: every element is made with createElement and
 * every piece of data becomes a text node, so a certname, an extension value or a log
 * detail carrying markup is shown as the characters it is, never parsed.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else if (k === "checked") (el as HTMLInputElement).checked = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's content. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export const main = (): HTMLElement => document.getElementById("main")!;

/** Announces a short message to screen readers and sighted users alike. */
export function say(text: string): void {
  const el = document.getElementById("status")!;
  el.textContent = text;
  window.setTimeout(() => {
    if (el.textContent === text) el.textContent = "";
  }, 6000);
}

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return "unknown";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

export const day = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : "");

/**
 * A modal confirmation (native <dialog>: focus moves into it and Escape cancels). Resolves
 * true on confirm. `body` says exactly what the action does.
 */
export function confirmDialog(title: string, body: Child[], confirmLabel: string, extra?: HTMLElement): Promise<boolean> {
  return new Promise((resolve) => {
    const ok = h("button", { class: "primary", type: "button" }, confirmLabel);
    const cancel = h("button", { type: "button" }, "Cancel");
    const heading = h("h2", { id: "dialog-title" }, title);
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" }, heading, h("div", {}, ...body), extra ?? null, h("p", { class: "toolbar" }, ok, cancel));
    const done = (v: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
    // The dialog's own field first (a revoke reason), else Cancel: focus() returns nothing, so this cannot be `?.focus() ?? ...`.
    const field = extra?.querySelector("select,input") as HTMLElement | null | undefined;
    (field ?? cancel).focus();
  });
}
