/**
 * Structured logs: JSON lines on stdout, one per request (app.ts) and one per audit record
 * (below). Key material never reaches a log call: records carry names, serials and
 * fingerprints only.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import type { AuditRecord } from "../ca/audit.js";
import type { LogLevel } from "../config/index.js";

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  // Asynchronous writes to stdout: lines that arrive while a write is in flight go out
  // together in the next one, so a busy server makes one write per batch of requests
  // instead of one synchronous write(2) per line on its event loop (the pinned profile in
  // docs/performance.md). A quiet server still writes each line at once. pino flushes what
  // is left when the process exits; a SIGKILL can lose the lines of the write in flight.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
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
