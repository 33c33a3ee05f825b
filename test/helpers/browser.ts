/**
 * Debian's Chromium, headless, driven by playwright-core (never a downloaded browser), and
 * axe-core run inside a page. The flags keep Chromium off the network it would otherwise
 * try (updates, sync, QUIC), which on this machine's closed network stalls it.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = path.resolve(import.meta.dirname, "../../test-artifacts");

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return fs.existsSync(CHROMIUM) ? undefined : "chromium is not installed: run scripts/install-system-deps.sh (Debian's chromium) to run the console's browser tests";
}

/**
 * A fresh profile each time: playwright's launch() gives Chromium a new temporary
 * --user-data-dir of its own (it refuses one passed in args), under `tmpDir` here.
 */
export async function launchChromium(tmpDir: string, opts: { home?: string } = {}): Promise<Browser> {
  fs.mkdirSync(tmpDir, { recursive: true });
  process.env.TMPDIR = tmpDir;
  return chromium.launch({
    executablePath: CHROMIUM,
    // HOME holds the NSS database ($HOME/.pki/nssdb) Chromium takes client certificates from.
    ...(opts.home ? { env: { ...process.env, HOME: opts.home } } : {}),
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
}

/**
 * The Chromium policy scripts/install-system-deps.sh installs: Chromium presents, without
 * asking, a client certificate issued by CLIENT_CERT_CA to https://127.0.0.1 and localhost
 * (any port). Only a test CA has that name.
 */
export const CLIENT_CERT_POLICY = "/etc/chromium/policies/managed/fleetca-console-tests.json";
export const CLIENT_CERT_CA = "Puppet CA: fleetca console client certificate test";

/** Why Chromium cannot present a client certificate here, or undefined when it can. */
export function clientCertMissing(): string | undefined {
  const policy = fs.existsSync(CLIENT_CERT_POLICY) ? fs.readFileSync(CLIENT_CERT_POLICY, "utf8") : "";
  if (!policy.includes(CLIENT_CERT_CA) || !fs.existsSync("/usr/bin/pk12util")) {
    return `Chromium's client-certificate policy (${CLIENT_CERT_POLICY}) or NSS's pk12util is missing: run scripts/install-system-deps.sh as root`;
  }
  return undefined;
}

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's violations of impact "serious" or "critical" on the page as it is now. axe is
 * evaluated through the DevTools protocol, which the page's CSP does not govern; the page
 * itself still runs under its CSP.
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: AxeViolation[] }> } }).axe;
    return (await axe.run(document, { resultTypes: ["violations"] })).violations;
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `console-${name}.png`), fullPage: true });
}
