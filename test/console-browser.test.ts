/**
 * The web console in Debian's Chromium against a real `fleetca server` (one browser and one
 * server for the file): log in; a request submitted by a real Puppet agent appears without a
 * reload, its pp_role markup shown as text; it is signed with the keyboard alone, found
 * signed, revoked, and the CRL fetched over Puppet's API lists it; a request granting alt
 * names needs a confirmation naming them; a viewer gets no sign button and the API refuses
 * them; a change without the CSRF token is refused; a locked-out login stays locked. Every
 * page passes axe-core with no serious violation, runs under the CSP without a violation,
 * and is saved as a screenshot in test-artifacts/.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { fleetca, opensslCsr } from "./helpers/cli.js";
import { chromiumMissing, clientCertMissing, CLIENT_CERT_CA, launchChromium, screenshot, seriousViolations } from "./helpers/browser.js";
import { httpsRequest } from "./helpers/https-client.js";
import { openssl, tmpDir } from "./helpers/openssl.js";
import { makeAgent, puppetMissing, puppetSsl } from "./helpers/puppet.js";
import { startServer, type ServerProcess } from "./helpers/server-process.js";

const skip = chromiumMissing() ?? puppetMissing() ?? false;
const PASSWORD = "console test password";
const MARKUP = `<img src=x onerror="window.__pwned=1">`;
const AGENT = "agent1.example.test";

const dir = tmpDir("fleetca-console-browser-");
let server: ServerProcess;
let browser: Browser;
let caPem: string;
const cspViolations: string[] = [];

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) cspViolations.push(m.text());
  });
  return { context, page };
}

async function login(page: Page, user: string, password = PASSWORD, navigate = true): Promise<void> {
  if (navigate) await page.goto(`${server.url}/console/`);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

async function checkAxe(page: Page, name: string): Promise<void> {
  assert.deepEqual(await seriousViolations(page), [], `axe on the ${name} page`);
  await screenshot(page, name);
}

function submitCsr(name: string, opts: { san?: string; ext?: string[] } = {}): Promise<{ status: number }> {
  const { csrPem } = opensslCsr(name, { ...opts, dir });
  return httpsRequest(`${server.url}/puppet-ca/v1/certificate_request/${name}`, { method: "PUT", body: csrPem, headers: { "content-type": "text/plain" }, ca: caPem, servername: "localhost" });
}

describe("the web console in Chromium", { skip, concurrency: false }, () => {
  let operator: Page;

  before(async () => {
    // The server serves dist/console: build it from web/ as `npm run build` does, so the test runs today's sources.
    const built = spawnSync(process.execPath, [path.resolve(import.meta.dirname, "../scripts/build-web.mjs")], { encoding: "utf8" });
    assert.equal(built.status, 0, built.stderr);
    [server, browser] = await Promise.all([
      startServer({ dir: path.join(dir, "server"), config: "key_type: ec\nautosign: false\n" }),
      launchChromium(path.join(dir, "chromium-profile")),
    ]);
    caPem = fs.readFileSync(path.join(server.ssldir, "certs", "ca.pem"), "utf8");
    const env = { FLEETCA_CONSOLE_PASSWORD: PASSWORD };
    for (const [user, role] of [["olga", "operator"], ["vic", "viewer"], ["ada", "admin"], ["lou", "operator"]]) {
      const io = await fleetcaWithEnv(["console", "adduser", user!, "--role", role!, "--cadir", server.cadir], env);
      assert.equal(io.code, 0, io.stderr);
    }
    operator = (await newPage()).page;
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("log in; a real Puppet agent's request appears without a reload, its pp_role markup shown as text", async () => {
    await operator.goto(`${server.url}/console/`);
    await operator.getByRole("heading", { name: "Log in to the fleetca console" }).waitFor();
    await checkAxe(operator, "login");
    const headers = (await operator.request.get(`${server.url}/console/`)).headers();
    assert.match(headers["content-security-policy"]!, /script-src 'self'.*frame-ancestors 'none'/);
    assert.equal(headers["x-frame-options"], "DENY");

    await login(operator, "olga", "wrong password");
    await operator.getByText("Wrong user name or password.").waitFor();
    await login(operator, "olga");
    await operator.getByRole("heading", { name: "Pending requests" }).waitFor();
    await operator.getByText("No pending requests.").waitFor();

    const agent = makeAgent(dir, AGENT);
    fs.writeFileSync(path.join(agent.confdir, "csr_attributes.yaml"), `extension_requests:\n  pp_role: '${MARKUP}'\n  pp_environment: production\n`);
    const submitted = await puppetSsl("submit_request", agent, server.port, ["--waitforcert", "0"]);
    assert.equal(submitted.code, 0, submitted.out);

    // The page polls: the row arrives without navigation.
    const row = operator.locator(`tr[data-name="${AGENT}"]`);
    await row.waitFor({ timeout: 20_000 });
    await operator.getByRole("status").filter({ hasText: "1 new pending request." }).waitFor();
    assert.match(await row.innerText(), new RegExp(`pp_role: ${MARKUP.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), "the markup is shown as the characters it is");
    assert.equal(await operator.locator("main img").count(), 0, "no element was made from the markup");
    assert.equal(await operator.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.match(await row.innerText(), /pp_environment: production/);
    assert.match(await row.innerText(), /([0-9A-F]{2}:){31}[0-9A-F]{2}/, "the fingerprint is shown");
    await checkAxe(operator, "pending");
  });

  test("the pending flow by keyboard alone: Tab to the request's Sign button, Enter signs it", async () => {
    await operator.locator("#main").focus();
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await operator.keyboard.press("Tab");
      reached = (await operator.evaluate(() => document.activeElement?.getAttribute("aria-label"))) === `Sign ${AGENT}`;
    }
    assert.ok(reached, "Sign is reachable with Tab");
    await operator.keyboard.press("Enter");
    await operator.getByText("No pending requests.").waitFor();
    await operator.getByRole("status").filter({ hasText: "sign: 1 done" }).waitFor();
  });

  test("find it signed, open its page (every field, history), revoke it; the CRL over Puppet's API lists it", async () => {
    await operator.goto(`${server.url}/console/#/certificates?search=agent1`);
    const link = operator.getByRole("link", { name: AGENT });
    await link.waitFor();
    assert.match(await operator.locator("#cert-list tbody tr").innerText(), /signed/);
    await checkAxe(operator, "certificates");
    await link.click();
    const fields = operator.locator("#cert-fields");
    await fields.waitFor();
    const text = await fields.innerText();
    for (const label of ["Subject", "Issuer", "Serial", "Not before", "Not after", "SHA-256 fingerprint", "SHA-1 fingerprint", "Alt names (SANs)"]) assert.ok(text.includes(label), label);
    assert.match(text, new RegExp(`/CN=${AGENT}`));
    assert.ok((await operator.locator("main").innerText()).includes(MARKUP), "the signed certificate's pp_role is shown as text too");
    assert.match(await operator.locator("#cert-history").innerText(), /signed\s+ok\s+console:olga/);
    const serial = /Serial\s+([0-9A-F]+)/.exec(text)![1]!;
    await checkAxe(operator, "certificate");

    await operator.getByRole("button", { name: "Revoke" }).click();
    const dialog = operator.getByRole("dialog");
    await dialog.getByLabel("Reason").selectOption("superseded");
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await operator.locator("#cert-fields").filter({ hasText: "superseded" }).waitFor();

    const crl = await httpsRequest(`${server.url}/puppet-ca/v1/certificate_revocation_list/ca`, { ca: caPem, servername: "localhost" });
    assert.equal(crl.status, 200);
    const printed = openssl(["crl", "-noout", "-text"], crl.body);
    assert.ok(printed.ok, printed.out);
    assert.match(printed.out, new RegExp(`Serial Number: 0*${serial}\\b`, "i"));
    assert.match(printed.out, /Superseded/);
  });

  test("a request granting alt names is signed only after a confirmation that names them", async () => {
    assert.equal((await submitCsr("multi.example.test", { san: "DNS:multi.example.test,DNS:puppet.example.test" })).status, 200);
    await operator.goto(`${server.url}/console/#/pending`);
    const row = operator.locator('tr[data-name="multi.example.test"]');
    await row.waitFor();
    assert.match(await row.innerText(), /grants alt name DNS:puppet\.example\.test/);
    await row.getByRole("button", { name: "Sign multi.example.test" }).click();
    const dialog = operator.getByRole("dialog");
    assert.match(await dialog.innerText(), /multi\.example\.test grants alt name DNS:puppet\.example\.test/);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await row.count(), 1, "cancelled: still pending");
    await row.getByRole("button", { name: "Sign multi.example.test" }).click();
    await operator.getByRole("dialog").getByRole("button", { name: /Sign and grant/ }).click();
    await row.waitFor({ state: "detached" });
  });

  test("the other pages pass axe: overview, autosign, audit, users", async () => {
    await operator.goto(`${server.url}/console/#/overview`);
    await operator.locator("#ca-fields").waitFor();
    assert.match(await operator.locator("#ca-fields").innerText(), /Puppet CA: localhost/);
    await checkAxe(operator, "overview");
    await operator.goto(`${server.url}/console/#/autosign`);
    await operator.getByRole("heading", { name: "How entries match (Puppet's rules)" }).waitFor();
    await checkAxe(operator, "autosign");
    await operator.goto(`${server.url}/console/#/audit?name=${AGENT}`);
    await operator.locator("#audit-table").waitFor();
    assert.match(await operator.locator("#audit-table").innerText(), /revoked\s+ok/);
    await checkAxe(operator, "audit");
    const admin = (await newPage()).page;
    await login(admin, "ada");
    await admin.getByRole("link", { name: "Users" }).click();
    await admin.getByRole("heading", { name: "Console users" }).waitFor();
    await checkAxe(admin, "users");
    await admin.context().close();
  });

  test("a viewer gets no sign button, and the API refuses the viewer's sign", async () => {
    assert.equal((await submitCsr("viewer-sees.example.test")).status, 200);
    const { context, page } = await newPage();
    await login(page, "vic");
    await page.locator('tr[data-name="viewer-sees.example.test"]').waitFor();
    assert.equal(await page.getByRole("button", { name: /^Sign/ }).count(), 0);
    const refused = await page.evaluate(async () => {
      const me = (await (await fetch("/api/v1/session")).json()) as { csrf: string };
      const r = await fetch("/api/v1/actions/sign", { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": me.csrf }, body: JSON.stringify({ names: ["viewer-sees.example.test"] }) });
      return { status: r.status, body: (await r.json()) as { kind: string } };
    });
    assert.deepEqual([refused.status, refused.body.kind], [403, "forbidden"]);
    await context.close();
  });

  test("a change without the CSRF token is refused, even with the session cookie", async () => {
    const r = await operator.evaluate(async () => {
      const res = await fetch("/api/v1/actions/sign", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ names: ["viewer-sees.example.test"] }) });
      return { status: res.status, body: (await res.json()) as { kind: string } };
    });
    assert.deepEqual([r.status, r.body.kind], [403, "csrf"]);
    const still = await fleetca(["ca", "list", "--cadir", server.cadir]);
    assert.match(still.stdout, /viewer-sees\.example\.test/, "still pending");
  });

  test("a locked-out login stays locked, even with the right password (last: it locks this address too)", async () => {
    const { context, page } = await newPage();
    await page.goto(`${server.url}/console/`);
    const error = page.locator("#login-error");
    for (let i = 0; i < 5; i++) {
      await login(page, "lou", `wrong ${i}`, false);
      // Each answer is awaited before the next try (the error is cleared by the next answer's text).
      await error.filter({ hasText: /Wrong user name or password|refused until/ }).waitFor();
      await page.evaluate(() => (document.getElementById("login-error")!.textContent = ""));
    }
    await login(page, "lou", PASSWORD, false);
    await error.filter({ hasText: /logins are refused until/ }).waitFor();
    await screenshot(page, "locked-out");
    await page.evaluate(() => (document.getElementById("login-error")!.textContent = ""));
    await login(page, "lou", PASSWORD, false);
    await error.filter({ hasText: /logins are refused until/ }).waitFor();
    await context.close();
    assert.deepEqual(cspViolations, [], "no page broke its Content-Security-Policy");
  });
});

async function fleetcaWithEnv(args: string[], env: NodeJS.ProcessEnv) {
  const { run } = await import("../src/cli/main.js");
  const { bufferIo } = await import("../src/cli/io.js");
  const io = bufferIo(env);
  const code = await run(args, io);
  return { code, stdout: io.stdout.join("\n"), stderr: io.stderr.join("\n") };
}

/**
 * The admin client certificate `puppetserver ca` presents (the server's own, with
 * pp_cli_auth), presented by Chromium itself: imported into an NSS database in the browser's
 * HOME, and chosen without a prompt by the AutoSelectCertificateForUrls policy that
 * scripts/install-system-deps.sh installs for this test's CA name only.
 */
describe("the console in Chromium with an admin client certificate", { skip: chromiumMissing() ?? clientCertMissing() ?? false }, () => {
  const certDir = tmpDir("fleetca-console-clientcert-");
  let server2: ServerProcess;
  let browser2: Browser;

  before(async () => {
    const built = spawnSync(process.execPath, [path.resolve(import.meta.dirname, "../scripts/build-web.mjs")], { encoding: "utf8" });
    assert.equal(built.status, 0, built.stderr);
    server2 = await startServer({ dir: path.join(certDir, "server"), config: `key_type: ec\nca_name: "${CLIENT_CERT_CA}"\n` });
    const home = path.join(certDir, "home");
    const nssdb = path.join(home, ".pki", "nssdb");
    fs.mkdirSync(nssdb, { recursive: true });
    const p12 = path.join(certDir, "admin.p12");
    const exported = openssl(["pkcs12", "-export", "-in", path.join(server2.ssldir, "certs", "localhost.pem"), "-inkey", path.join(server2.ssldir, "private_keys", "localhost.pem"), "-out", p12, "-passout", "pass:", "-name", "fleetca admin"]);
    assert.ok(exported.ok, exported.out);
    for (const [cmd, args] of [["certutil", ["-N", "-d", `sql:${nssdb}`, "--empty-password"]], ["pk12util", ["-i", p12, "-d", `sql:${nssdb}`, "-W", ""]]] as const) {
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      assert.equal(r.status, 0, `${cmd}: ${r.stdout}${r.stderr}`);
    }
    browser2 = await launchChromium(path.join(certDir, "chromium-profile"), { home });
  });

  after(async () => {
    await browser2?.close();
    await server2?.stop();
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  test("the console opens as admin without a password; the API answers the certificate's session", async () => {
    const context = await browser2.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${server2.url}/console/#/users`);
    await page.getByRole("heading", { name: "Console users" }).waitFor();
    assert.equal(await page.getByRole("heading", { name: "Log in to the fleetca console" }).count(), 0, "no login form");
    assert.match(await page.locator("#who").innerText(), /localhost \(.*admin/);
    assert.equal(await page.locator("#logout").count(), 0, "nothing to log out of: the certificate is the credential");
    const me = await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()) as { kind: string; name: string; roles: string[] });
    assert.deepEqual([me.kind, me.name, me.roles.includes("admin")], ["certificate", "localhost", true]);
    await screenshot(page, "client-certificate-admin");
    // Without the certificate the same server asks for a login: the admin access came from it.
    const anonymous = await httpsRequest(`${server2.url}/api/v1/session`, { ca: fs.readFileSync(path.join(server2.ssldir, "certs", "ca.pem"), "utf8"), servername: "localhost" });
    assert.equal(anonymous.status, 401);
    await context.close();
  });
});
