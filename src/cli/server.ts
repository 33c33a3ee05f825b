/**
 * `fleetca server`: on an empty directory, create the CA and the server's own certificate
 * (as Puppet Server's first boot does), then serve Puppet's CA API over HTTPS until SIGTERM.
 * SIGHUP re-reads the settings and the TLS files without dropping connections.
 *
 * stdout carries the JSON log lines only (one per request and per state change); the
 * human summary at startup goes to stderr, so `fleetca server | jq` works.
 */
import { accessSync, constants, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import type { DestinationStream, Logger } from "pino";
import { releaseReservedSerials } from "../ca/serial-reserve.js";
import type { AuditRecord, Meter } from "../ca/audit.js";
import { CertificateAuthority } from "../ca/authority.js";
import type { CaStore } from "../ca/store.js";
import { fileName, SETTING_KEYS, settingSources, type Settings } from "../config/index.js";
import { autosignerFor } from "../host/autosign.js";
import { Ssldir } from "../host/ssldir.js";
import { adminAutosignProblems, caPermissionProblems } from "../host/startup-checks.js";
import { parseCertificatePem, verifySignedBy } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import type { ServerDeps } from "../server/deps.js";
import { ensureCa, ensureServerIdentity, SERVER, serverAltNames } from "../server/identity.js";
import type { RunningServer } from "../server/listen.js";
import { openStore } from "../store/open.js";
import { expiryWarnings } from "../ca/lifecycle/expiry.js";
import { activeOverlap, caBundle, retireOldCertificates } from "../ca/lifecycle/rotation.js";
import { keepPreviousIdentity, overlapIdentity, PREVIOUS_CA_DIR } from "../server/rotation-identity.js";
import { settingsFrom, type CommonFlags } from "./context.js";
import { shellWord } from "./located.js";
import { leaveWorkers, reportListening, runsWorkers, runWorkers, workerNumber, workerSignals, type SignalSource } from "./server-workers.js";
import { Exit } from "./exit-codes.js";
import type { Io } from "./io.js";
import { guarded } from "./shared.js";

/**
 * The server's ssldir: the `ssldir` setting or `--ssldir` when one was given. Otherwise `ssl` beside a CA directory
 * of fleetca's own (/var/lib/fleetca/ca -> /var/lib/fleetca/ssl; /tmp/x/ca -> /tmp/x/ssl), so one directory holds
 * everything a server instance owns; but never inside Puppet's tree (a cadir such as
 * /etc/puppetlabs/puppetserver/ca), where `ssl` is Puppet Server's own: there it is the default ssldir.
 */
export function serverSsldir(settings: Settings): string {
  const source = settingSources(settings).ssldir ?? "default";
  if (!source.startsWith("default")) return settings.ssldir;
  const cadir = path.resolve(settings.cadir);
  return insidePuppetTree(cadir) ? settings.ssldir : path.join(path.dirname(cadir), "ssl");
}

/** A path with a directory named puppet, puppetlabs or puppetserver in it: Puppet's configuration tree. */
export function insidePuppetTree(dir: string): boolean {
  return path.resolve(dir).split(path.sep).some((part) => /^puppet(labs|server)?$/.test(part));
}

/**
 * The `fleetca ca list` command that reaches this server's CA from a shell on this host: the flags that moved it
 * from the defaults, as given (a config file by its path, a cadir or store set outside the file).
 */
export function caListCommand(settings: Settings, flags: CommonFlags, env: NodeJS.ProcessEnv): string {
  const sources = settingSources(settings);
  const fromFile = (k: "cadir" | "store") => (sources[k] ?? "default").startsWith("config file");
  const parts = ["fleetca ca list"];
  const config = flags.config ?? env.FLEETCA_CONFIG;
  if (config && (fromFile("cadir") || fromFile("store"))) parts.push("--config", shellWord(path.resolve(config)));
  if (!/^(default|caller defaults)/.test(sources.cadir ?? "default") && !fromFile("cadir")) parts.push("--cadir", shellWord(path.resolve(settings.cadir)));
  // Without the URL's password (docs/postgres.md: fleetca never prints it); the operator's PGPASSWORD or ~/.pgpass supplies it.
  if (settings.store !== "file:" && !fromFile("store")) parts.push("--store", shellWord(settings.store.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/, "$1@")));
  return parts.join(" ");
}


/** Settings that shape what is already listening or on disk: a reload reports them instead of applying them. */
const RESTART_ONLY = ["cadir", "store", "bind", "port", "certname", "dnsAltNames", "ssldir", "maxCsrBytes",
  "handshakeTimeout", "idleTimeout", "keepAliveTimeout", "headersTimeout", "requestTimeout", "maxConnections", "maxConnectionsPerAddress", "workers"] as const;

function makeCa(store: CaStore, settings: Settings, log: Logger, observe: (r: AuditRecord) => void, meter?: Meter): CertificateAuthority {
  return new CertificateAuthority({
    store,
    settings,
    meter,
    autosigner: autosignerFor(settings.autosign, settings.autosignTimeout, log),
    observe,
    reserveSerials: true,
  });
}

/**
 * Problems that stop the server (host/startup-checks.ts): an admin name autosign would sign, always;
 * the CA's file modes unless ca_permissions is "warn", when they are logged instead.
 */
function startupProblems(settings: Settings, log: Logger): string[] {
  const isExecutable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  const refused = adminAutosignProblems(settings.adminAllowList, settings.autosign, isExecutable).map((p) => p.message);
  if (settings.store === "file:") {
    for (const p of caPermissionProblems(path.resolve(settings.cadir))) {
      if (settings.caPermissions === "refuse") refused.push(`${p.message} Or set ca_permissions: warn to start anyway.`);
      else log.warn({ setting: p.setting }, p.message);
    }
  }
  return refused;
}

/** The settings a reload changed, by their file names (`autosign, log_level`). */
function changedSettings(before: Settings, after: Settings): string[] {
  return SETTING_KEYS.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).map(fileName);
}

/** Signals the server reacts to; tests pass their own emitter. */
export type { SignalSource };

export interface RunOptions {
  signals?: SignalSource;
  /** Where the JSON log lines go; default stdout. */
  logTo?: DestinationStream;
}

export async function runServer(flags: CommonFlags, io: Io, opts: RunOptions = {}): Promise<number> {
  const settings = settingsFrom(flags, io);
  const signals = opts.signals ?? (workerNumber() !== undefined ? workerSignals(process) : process);
  // Loaded here, not at the top: pino costs `fleetca ca list` ~30 ms of start-up.
  const { auditLogger, createLogger } = await import("../server/log.js");
  const log = createLogger(settings.logLevel, opts.logTo);
  if (runsWorkers(settings.workers)) return runWorkers(settings.workers, io, signals, log);
  // With workers, the first one prints the summary for all; the others say only that they listen.
  const say = (workerNumber() ?? 1) === 1 ? (line: string) => io.err(line) : () => undefined;
  const audit = auditLogger(log);
  // Metrics (/metrics) hang off the edge: the CA's meter port and a timed store (server/ops/metrics.ts).
  const { ServerMetrics } = await import("../server/ops/metrics.js");
  const metrics = new ServerMetrics();
  const rawStore = await openStore(settings.store, path.resolve(settings.cadir), {
    watch: true,
    onNotice: (message) => {
      io.err(`Warning: ${message}`);
      log.warn({ msg: "store notice", notice: message });
    },
    onWatch: (live, why) =>
      live ? log.info({ msg: "store notifications: listening" }) : log.warn({ msg: "store notifications lost; reading versions until they are back", why }),
  });
  // A store with a commit journal (the file store) brings its files up to date after a crash before anything is served.
  const fromJournal = await (rawStore as { recover?: () => Promise<{ batches: number; certificates: number } | undefined> }).recover?.();
  if (fromJournal && fromJournal.certificates > 0) log.warn({ fromJournal }, `Recovered ${fromJournal.certificates} certificate file(s) from the commit journal after a crash`);
  const store = metrics.timedStore(rawStore);
  if (!(await store.isInitialized())) io.err(`No CA in ${store.location}: creating one (${settings.keyType === "ec" ? `EC ${settings.curve}` : `RSA ${settings.keylength}`})...`);
  const created = await ensureCa(store, settings);
  const refused = startupProblems(settings, log);
  if (refused.length > 0) {
    for (const m of refused) io.err(`Error: ${m}`);
    io.err("The server did not start.");
    await store.close();
    return Exit.FAILED;
  }
  const deps: ServerDeps = { ca: makeCa(store, settings, log, audit, metrics.meter), settings, log, metrics };
  // Revocations recorded but missing from the CRL (a crash between the two) are published now.
  const repaired = await deps.ca.repairCrl();
  if (repaired > 0) log.warn({ added: repaired }, `crl repaired: the CRL lacked ${repaired} recorded revocation(s); they are in it now`);
  // Requests whose certificates were stored just before a crash are done (ca/recovery.ts).
  const settled = await deps.ca.recoverInterrupted();
  if (settled.length > 0) log.warn({ names: settled.map((s) => s.name) }, `recovery: removed ${settled.length} request(s) already signed before a crash`);
  // A rotation's overlap that ended: the old CA's certificates still listed go, so their nodes can enroll again.
  const retireEnded = async () => {
    const retired = await retireOldCertificates(store, new Date());
    if (retired.length > 0) log.warn({ count: retired.length }, `removed ${retired.length} certificate(s) of the previous CA after the rotation's overlap; their nodes must enroll again (${retired.slice(0, 10).join(", ")}${retired.length > 10 ? ", ..." : ""})`);
  };
  await retireEnded();
  const files = new Ssldir(serverSsldir(settings));
  const hostName = os.hostname();

  const previousFiles = new Ssldir(path.join(files.dir, PREVIOUS_CA_DIR));
  const loadTls = async () => {
    const now = new Date();
    const overlap = await activeOverlap(store, now);
    // A rotation's overlap (ca regenerate --mode rotate): the old-CA certificate is kept aside
    // before a new one replaces it, and presented until the overlap ends (rotation-identity.ts).
    if (overlap) await keepPreviousIdentity(files, previousFiles, settings.certname, overlap, now);
    const identity = await ensureServerIdentity(deps.ca, settings, files, hostName);
    const caPem = await deps.ca.caCertificatePem();
    await files.writeCa(caPem, await deps.ca.crlPem());
    const presented = (overlap && (await overlapIdentity(previousFiles, settings.certname, overlap, now))) || identity;
    // TLS accepts the old CA's client certificates too during the overlap.
    return { identity, overlap: overlap !== undefined, tls: { keyPem: presented.keyPem, certPem: presented.certPem, caPem: caBundle(caPem, overlap) } };
  };
  const { identity, tls, overlap: inOverlap } = await loadTls();
  // Watched once a second while it runs: when it ends (its deadline, or `ca regenerate --end-overlap`) TLS changes.
  let overlapRunning = inOverlap;
  // OCSP: signed by a responder certificate kept in the ssldir (issued now if needed), or the CA key.
  const { ocspResponderFor } = await import("../server/ocsp/index.js");
  const ocsp = ocspResponderFor(deps, files);
  deps.ocsp = ocsp.responder;
  if (ocsp.delegated) {
    try {
      await ocsp.delegated.current();
    } catch (e) {
      log.warn({ err: e }, `OCSP answers are tryLater until this is fixed: ${(e as Error).message}`);
    }
  }
  // Loaded here, not at the top: other `fleetca` commands need not pay for the HTTP stack.
  const { listen } = await import("../server/listen.js");
  let running: RunningServer;
  try {
    running = await listen(deps, tls, { host: settings.bind, port: settings.port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EADDRINUSE" && code !== "EACCES" && code !== "EADDRNOTAVAIL") throw e;
    const why = code === "EADDRINUSE" ? "the port is in use (another fleetca or Puppet Server?)" : code === "EACCES" ? "permission denied (ports below 1024 need root)" : "no such local address";
    io.err(`Error: cannot listen on ${settings.bind}:${settings.port}: ${why}. Choose another with --bind/--port.`);
    await store.close();
    return Exit.FAILED;
  }

  const material = await deps.ca.current();
  if (material.keyProblem) {
    io.err(`Warning: serving the CA certificate, CRL and certificates only; signing is refused: ${material.keyProblem}`);
    log.warn({ msg: "signing refused", why: material.keyProblem });
  }
  const caFingerprint = fingerprint(material.cert.der);
  const enrollHost = settings.certname;
  say(`CA "${material.cert.commonName}" in ${store.location}${created ? " (created now)" : ""}`);
  say(`CA fingerprint (SHA256): ${caFingerprint}`);
  say(`Server certificate for ${settings.certname} (${serverAltNames(settings, hostName).map((n) => (n.includes(":") ? n : `DNS:${n}`)).join(", ")}) in ${files.dir}${identity.issued ? " (issued now)" : ""}`);
  say(`Listening on ${running.url}; autosign: ${String(settings.autosign)}`);
  const responder = ocsp.delegated?.certificate;
  say(`OCSP: ${running.url}/ocsp, signed by ${responder ? `the responder certificate ${responder.commonName} (serial ${responder.serial.toString(16).toUpperCase()}, until ${responder.notAfter.toISOString()})` : "the CA key"}`);
  say("Enroll an agent:");
  say(`  puppet ssl bootstrap --server ${enrollHost} --serverport ${running.port}`);
  say(`  fleetca agent bootstrap --server ${enrollHost}${running.port === 8140 ? "" : ` --port ${running.port}`} --ca-fingerprint ${caFingerprint}`);
  say(`Manage it (list, sign, revoke): ${caListCommand(settings, flags, io.env)}`);
  say("Stop: SIGTERM or Ctrl-C (requests in flight finish). Reload settings and TLS files: SIGHUP.");
  log.info({ msg: "listening", url: running.url, ca: store.location, ssldir: files.dir, fingerprint: caFingerprint, ...(workerNumber() ? { worker: workerNumber() } : {}) });
  reportListening(running.url);

  // Puppet Server keeps its own ssldir's crl.pem in step with the CA's on every revoke; so
  // does fleetca, for revokes made here or by the CLI (seen within a second via the store).
  let syncedCrl = await deps.ca.crlPem();
  let syncedCa = await deps.ca.caCertificatePem();
  let syncedSpki = (await deps.ca.current()).cert.spki;
  let caChangeSeenAt: number | undefined;
  const ssldirIdentityIsCurrent = async () => {
    const { certPem } = await files.readIdentity(settings.certname);
    if (!certPem) return false;
    const cert = parseCertificatePem(certPem);
    return verifySignedBy(cert.tbs, cert.signatureOid, cert.signature, (await deps.ca.current()).cert.spki);
  };
  // The CA certificate's and the CRL's end dates, warned about within 90 days: at start, then daily.
  const warnExpiry = async () => {
    for (const w of expiryWarnings(await deps.ca.current(), new Date())) log.warn({ what: w.what, at: w.at, daysLeft: w.daysLeft, fix: w.fix }, w.message);
  };
  await warnExpiry().catch((e: unknown) => log.warn({ err: e }, `could not check the CA's end dates: ${(e as Error).message}`));
  const expiryTimer = setInterval(() => void warnExpiry().catch((e: unknown) => log.warn({ err: e }, `could not check the CA's end dates: ${(e as Error).message}`)), 86_400_000);
  expiryTimer.unref();
  const crlSync = setInterval(() => {
    void deps.ca
      .crlPem()
      .then(async (pem) => {
        // A regenerated or restored CA (ca/lifecycle): new TLS trust and server certificate, no restart.
        const caPem = await deps.ca.caCertificatePem();
        if (caPem !== syncedCa) {
          // Tried again every second until it works: `ca regenerate` writes the server's new
          // certificate into the ssldir a moment after the new CA lands in the store. For a
          // few seconds the server waits for it rather than issuing its own: both at once
          // would collide on the server's certname (and the regeneration would fail).
          caChangeSeenAt ??= Date.now();
          if (Date.now() - caChangeSeenAt < 5000 && !(await ssldirIdentityIsCurrent())) return;
          caChangeSeenAt = undefined;
          const next = await loadTls();
          running.reloadTls(next.tls);
          overlapRunning = next.overlap;
          syncedCa = caPem;
          const cert = (await deps.ca.current()).cert;
          // `ca extend`: the same key signed a later end date; nothing issued changes.
          if (cert.spki.equals(syncedSpki)) {
            log.info({ msg: "ca extended", fingerprint: fingerprint(cert.der), notAfter: cert.notAfter.toISOString() });
            await warnExpiry();
          } else {
            syncedSpki = cert.spki;
            log.warn({ fingerprint: fingerprint(cert.der) }, `ca changed: now serving the CA ${fingerprint(cert.der)}; certificates of the previous CA are refused (after the overlap, in a rotation) and their nodes must re-enroll`);
          }
        }
        if (overlapRunning && !(await activeOverlap(store, new Date()))) {
          running.reloadTls((await loadTls()).tls);
          overlapRunning = false;
          log.warn({ fingerprint: fingerprint((await deps.ca.current()).cert.der) }, "rotation overlap ended: the previous CA is no longer trusted; serving the new CA's server certificate; nodes still holding a certificate of the previous CA must re-enroll");
          await retireEnded();
        }
        if (pem === syncedCrl) return;
        syncedCrl = pem;
        await files.writeCa(await deps.ca.caCertificatePem(), pem);
      })
      .catch((e: unknown) => log.warn({ err: e }, `could not refresh ${files.dir}/crl.pem: ${(e as Error).message}`));
  }, 1000);
  crlSync.unref();

  // The CRL is signed again before it expires even when nothing is revoked (crl_ttl), pruned
  // then with auto_prune; ca.refreshCrl decides when (two thirds of its life), here is only
  // the timer. Checked once now (a CRL that went stale while the server was down, or a
  // shortened crl_ttl), then every twentieth of crl_ttl, between 5 s and a minute.
  let crlTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  let crlRefreshing = Promise.resolve();
  const refreshCrl = async () => {
    try {
      const r = await deps.ca.refreshCrl(SERVER);
      if (r.resigned) {
        log.info({ msg: "crl re-signed", number: r.crlNumber.toString(), nextUpdate: r.nextUpdate.toISOString(), pruned: r.pruned.length, heldBack: r.heldBack.length });
      }
    } catch (e) {
      log.warn({ err: e }, `could not sign the CRL again: ${(e as Error).message}`);
    }
    if (stopped) return;
    crlTimer = setTimeout(() => void (crlRefreshing = refreshCrl()), Math.min(60_000, Math.max(5_000, (deps.settings.crlTtl * 1000) / 20)));
    crlTimer.unref();
  };
  await (crlRefreshing = refreshCrl());

  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      try {
        const next = settingsFrom(flags, io);
        const ignored = RESTART_ONLY.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(settings[k]));
        if (ignored.length > 0) log.warn({ settings: ignored }, `these settings take effect only after a restart: ${ignored.join(", ")}`);
        log.level = next.logLevel;
        const changed = changedSettings(deps.settings, next);
        deps.ca = makeCa(store, next, log, audit, metrics.meter);
        deps.settings = next;
        const reloaded = await loadTls();
        running.reloadTls(reloaded.tls);
        overlapRunning = reloaded.overlap;
        await deps.ca.recordEvent("settings-reloaded", SERVER, { detail: changed.length > 0 ? `changed: ${changed.join(", ")}` : "no setting changed" });
        log.info({ msg: "reloaded", autosign: String(next.autosign) });
      } catch (e) {
        log.error({ err: e }, `reload failed, still running with the previous settings: ${(e as Error).message}`);
      }
    });
  };

  await new Promise<void>((resolve) => {
    const stop = () => {
      signals.off("SIGTERM", stop);
      signals.off("SIGINT", stop);
      signals.off("SIGHUP", reload);
      clearInterval(crlSync);
      clearInterval(expiryTimer);
      stopped = true;
      clearTimeout(crlTimer);
      log.info({ msg: "stopping: finishing requests in flight" });
      void reloading
        .then(() => crlRefreshing)
        .then(() => running.close())
        .then(async () => {
          const returned = await releaseReservedSerials(store);
          if (returned > 0) log.info({ msg: "returned unused reserved serials", count: returned });
        })
        .then(() => store.close())
        .catch((e: unknown) => log.error({ err: e }, "error while stopping"))
        .finally(() => {
          log.info({ msg: "stopped" });
          resolve();
        });
    };
    signals.on("SIGTERM", stop);
    signals.on("SIGINT", stop);
    signals.on("SIGHUP", reload);
  });
  leaveWorkers();
  return Exit.OK;
}

export function register(program: Command, io: Io, setCode: (c: number) => void): void {
  program
    .command("server")
    .description("run the CA server (Puppet's CA API over HTTPS); creates the CA and its own certificate on first start")
    .option("--config <file>", "fleetca YAML config file (Puppet's setting names)")
    .option("--cadir <dir>", "CA directory (Puppet Server layout); created when empty")
    .option("--bind <addr>", "listen address (default 0.0.0.0)")
    .option("--port <n>", "HTTPS port (default 8140)")
    .option("--certname <name>", "the server's certificate name (default: the host name)")
    .option("--dns-alt-names <a,b>", "names in the server certificate (default: puppet and the host name), plus the certname")
    .option("--autosign <mode>", "false, true, or the path of a glob file or a policy executable")
    .option("--store <url>", "store: file: (default, Puppet's layout under cadir) or postgres://...")
    .option("--workers <n>", "server processes sharing the port, one per core: a number, or auto (default 1)")
    .option("--ssldir <dir>", "the server's own key and certificate (default: ssl beside the CA directory, or /var/lib/fleetca/ssl when the CA directory is in Puppet's tree)")
    .action(guarded(io, setCode, async (...args) => runServer(args[0] as CommonFlags, io)));
}
