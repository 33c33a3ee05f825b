/**
 * `fleetca server --workers N`: N server processes on one port (node:cluster). One Node
 * process does all but its RSA signatures on one event loop, so it uses about one core
 * (docs/performance.md, "Using every core"); more cores need more processes. The primary
 * accepts the connections and hands them round-robin to the workers; each worker is a whole
 * `fleetca server`, all on the one CA, consistent as several servers on one CA directory or
 * one PostgreSQL database are (the CA lock, the commit journal, the store's notifications).
 *
 * The first worker starts alone: on a first boot it creates the CA, the server's certificate
 * and the OCSP responder's, which the others then load. A worker that dies is replaced, unless
 * workers keep dying (then everything stops, with the reason in the log). SIGTERM and SIGINT
 * stop every worker (requests in flight finish), SIGHUP reloads each; the primary tells them
 * over the cluster's channel, so a signal the terminal sent to the whole group is not doubled.
 * A worker whose primary is gone stops too: nothing would hand it connections any more.
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import { Exit } from "./exit-codes.js";
import type { Io } from "./io.js";

/** The environment variable that tells a worker its number (1 for the first). */
const WORKER_ENV = "FLEETCA_WORKER";
/** More deaths than this within a minute: something is wrong with every worker, not one. */
const RESTARTS_PER_MINUTE = 5;
const RESTART_DELAY_MS = 500;

type Signal = "SIGTERM" | "SIGINT" | "SIGHUP";

/** Where a server takes its stop and reload requests from (process, or a test's emitter). */
export interface SignalSource {
  on(signal: Signal, fn: () => void): unknown;
  off(signal: Signal, fn: () => void): unknown;
}

type Message = { fleetca: "listening"; url: string } | { fleetca: "stop" } | { fleetca: "reload" };

const isMessage = (m: unknown): m is Message => typeof m === "object" && m !== null && typeof (m as { fleetca?: unknown }).fleetca === "string";

/** In a worker, its number (1 for the first); undefined in a server run without workers. */
export function workerNumber(): number | undefined {
  return cluster.isWorker ? Number(process.env[WORKER_ENV]) : undefined;
}

/** Runs as the primary of a server with workers, when `workers` asks for more than one process. */
export const runsWorkers = (workers: number): boolean => workers > 1 && cluster.isPrimary;

/** In a worker: tells the primary it is serving. */
export function reportListening(url: string): void {
  if (cluster.isWorker) process.send?.({ fleetca: "listening", url } satisfies Message);
}

/** In a worker that has stopped serving: closes its channel to the primary, which would keep the process alive. */
export function leaveWorkers(): void {
  if (cluster.isWorker && process.connected) process.disconnect();
}

/**
 * A worker's signals: its own (the terminal's Ctrl-C reaches the whole group), and the
 * primary's stop and reload requests, and the loss of the primary (a stop).
 */
export function workerSignals(own: SignalSource): SignalSource {
  // One relay per signal and handler: a server hands one stop function to SIGTERM and SIGINT.
  const relays = new Map<Signal, Map<() => void, { message: (m: unknown) => void; lost?: () => void }>>();
  // The primary's stop is relayed to the SIGTERM handler only: a server gives SIGINT the same
  // function, and one message must not run it twice.
  const wanted: Partial<Record<Signal, Message["fleetca"]>> = { SIGTERM: "stop", SIGHUP: "reload" };
  return {
    on(signal, fn) {
      own.on(signal, fn);
      if (!wanted[signal]) return;
      const message = (m: unknown) => isMessage(m) && m.fleetca === wanted[signal] && fn();
      const lost = signal === "SIGTERM" ? fn : undefined;
      if (!relays.has(signal)) relays.set(signal, new Map());
      relays.get(signal)!.set(fn, { message, lost });
      process.on("message", message);
      if (lost) process.on("disconnect", lost);
    },
    off(signal, fn) {
      own.off(signal, fn);
      const r = relays.get(signal)?.get(fn);
      if (!r) return;
      relays.get(signal)!.delete(fn);
      process.off("message", r.message);
      if (r.lost) process.off("disconnect", r.lost);
    },
  };
}

/** The primary: starts `count` workers, replaces those that die, stops them all on a signal. */
export async function runWorkers(count: number, io: Io, signals: SignalSource, log: Logger): Promise<number> {
  cluster.setupPrimary({ silent: false });
  const numbers = new Map<Worker, number>();
  const fork = (n: number): Worker => {
    const w = cluster.fork({ [WORKER_ENV]: String(n) });
    numbers.set(w, n);
    return w;
  };
  const first = fork(1);
  if (!(await listening(first))) return first.process.exitCode ?? Exit.FAILED;
  const rest = Array.from({ length: count - 1 }, (_, i) => fork(i + 2));
  const started = await Promise.all(rest.map(listening));
  if (started.includes(false)) {
    io.err(`Error: ${started.filter((s) => !s).length} of the ${count} workers did not start (their errors are above); stopping the others.`);
    await stopAll([...numbers.keys()]);
    return Exit.FAILED;
  }
  const pids = [...numbers.keys()].map((w) => w.process.pid);
  io.err(`Workers: ${count} server processes share the port (pids ${pids.join(", ")}); the first one's lines are above.`);
  log.info({ msg: "workers listening", workers: count, pids });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const deaths: number[] = [];
    const exited = (w: Worker, code: number | null, signal: string | null) => {
      const n = numbers.get(w);
      numbers.delete(w);
      if (stopping || n === undefined) return;
      if (code === 0 && !signal) {
        // Stopped by a signal of its own (systemd signals the whole group; a terminal's Ctrl-C
        // too), not a death: nothing to replace. With none left, the server has stopped.
        log.info({ msg: "worker stopped", worker: n, workerPid: w.process.pid });
        if (numbers.size === 0) finish(Exit.OK);
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length > 0 && now - deaths[0]! > 60_000) deaths.shift();
      const how = signal ? `killed by ${signal}` : `exit code ${String(code)}`;
      if (deaths.length > RESTARTS_PER_MINUTE) {
        log.error({ worker: n, workerPid: w.process.pid, how }, `worker ${n} exited (${how}), the ${deaths.length}th death within a minute: stopping every worker; the log above says why they die`);
        finish(Exit.FAILED);
        return;
      }
      log.warn({ worker: n, workerPid: w.process.pid, how }, `worker ${n} (pid ${String(w.process.pid)}) exited (${how}); starting another`);
      setTimeout(() => {
        if (stopping) return;
        const again = fork(n);
        void listening(again).then((ok) => ok && log.info({ msg: "worker replaced", worker: n, workerPid: again.process.pid }));
      }, RESTART_DELAY_MS);
    };
    const stop = () => finish(Exit.OK);
    const reload = () => {
      for (const w of numbers.keys()) w.send({ fleetca: "reload" } satisfies Message);
    };
    const finish = (code: number) => {
      if (stopping) return;
      stopping = true;
      signals.off("SIGTERM", stop);
      signals.off("SIGINT", stop);
      signals.off("SIGHUP", reload);
      log.info({ msg: "stopping workers", workers: numbers.size });
      void stopAll([...numbers.keys()]).then(() => {
        cluster.off("exit", exited);
        log.info({ msg: "workers stopped" });
        resolve(code);
      });
    };
    cluster.on("exit", exited);
    signals.on("SIGTERM", stop);
    signals.on("SIGINT", stop);
    signals.on("SIGHUP", reload);
  });
}

/** Resolves true when the worker reports that it listens, false when it exits first. */
function listening(w: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (isMessage(m) && m.fleetca === "listening") done(true);
    };
    const onExit = () => done(false);
    const done = (ok: boolean) => {
      w.off("message", onMessage);
      w.off("exit", onExit);
      resolve(ok);
    };
    w.on("message", onMessage);
    w.on("exit", onExit);
  });
}

/** Asks every worker to stop and waits until each has exited. */
async function stopAll(workers: Worker[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once("exit", () => resolve());
          if (w.isConnected()) w.send({ fleetca: "stop" } satisfies Message);
          else w.process.kill("SIGTERM");
        }),
    ),
  );
}
