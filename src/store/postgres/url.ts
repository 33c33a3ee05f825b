/**
 * The store's URL as it may be shown: `location` is printed at startup and appears in error
 * messages and logs, so the password never leaves this module.
 */

/** postgres://user@host:port/db?sslmode=require, without the password, here or in query parameters (sslpassword). */
export function redactUrl(url: string): string {
  // WHATWG URL takes one host: a libpq host list (h1:5432,h2:5432) is set aside and put back.
  const m = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*,[^/?#]*)(.*)$/.exec(url);
  if (m) return redactUrl(`${m[1]}${m[2] ?? ""}fleetca-hosts${m[4]}`).replace("fleetca-hosts", m[3]!);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL we can take apart: show only the scheme rather than risk echoing a secret.
    return `${url.split(":")[0] ?? "postgres"}://(unparsable URL)`;
  }
  u.password = "";
  for (const key of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(key)) u.searchParams.set(key, "redacted");
  return u.toString();
}

/** The password and secret query values (percent-decoded), to scrub from messages of errors we rethrow. */
export function secretsOf(url: string): string[] {
  url = url.replace(/^(postgres(?:ql)?:\/\/[^@/?#]*@)[^/?#]*,[^/?#]*/, "$1fleetca-hosts");
  try {
    const u = new URL(url);
    const out = u.password ? [decodeURIComponent(u.password)] : [];
    for (const [key, value] of u.searchParams) if (/pass|secret|key/i.test(key) && value) out.push(value);
    return out;
  } catch {
    return [];
  }
}

/** Replaces every occurrence of the secrets in text. */
export function scrub(text: string, secrets: readonly string[]): string {
  return secrets.reduce((t, s) => t.split(s).join("***"), text);
}
