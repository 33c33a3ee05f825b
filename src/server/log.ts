/**
 * Structured logs: JSON lines on stdout, one per request (app.ts) and one per audit record
 * (below). Key material never reaches a log call: records carry names, serials and
 * fingerprints only.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import type { AuditRecord } from "../ca/audit.js";
import type { LogLevel } from "../config/index.js";

const LOG_BUFFER = 4096;
const LOG_FLUSH_MS = 100;

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  // Asynchronous writes to stdout, gathered: a write when LOG_BUFFER bytes of lines are
  // waiting, or LOG_FLUSH_MS after the first of them, so a busy server makes one write(2)
  // (through the libuv pool) per ~15 requests instead of one per request or two, and a
  // quiet one still shows each line within LOG_FLUSH_MS (the pinned profile in
  // docs/performance.md). pino flushes what is left when the process exits; a SIGKILL can
  // lose the last LOG_FLUSH_MS of lines.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER, periodicFlush: LOG_FLUSH_MS }));
}

/**
 * The CA's `observe` port, as log lines: "signed agent1 by admin.example.com from 10.0.0.5".
 * `event` is the record's action; `name` and `serial` its first name and serial (`names` and
 * `serials` carry all of them when there are several); a refusal adds `outcome` and `reason`.
 */
export function auditLogger(log: Logger): (r: AuditRecord) => void {
  return (r) =>
    log.info({
      msg: "audit",
      event: r.action,
      ...(r.names.length > 0 ? { name: r.names[0] } : {}),
      who: r.who,
      from: r.from,
      ...(r.serials.length > 0 ? { serial: r.serials[0] } : {}),
      ...(r.names.length > 1 ? { names: r.names } : {}),
      ...(r.serials.length > 1 ? { serials: r.serials } : {}),
      ...(r.outcome !== "ok" ? { outcome: r.outcome } : {}),
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.detail !== undefined ? { detail: r.detail } : {}),
    });
}
