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

/** What a request's log line says (app.ts for fastify's requests, puppet-ca/fast-gets.ts for its own). */
export interface RequestFields {
  method: string;
  path: string;
  status: number;
  ms: number;
  client: string;
  reason?: string;
}

/**
 * The request's log line, the same bytes `log.info({ msg: "request", ...fields })` writes
 * (test/server-log-line.test.ts compares them), put together here instead of by pino's
 * serializer: ~1.5 us against ~8 us a line on this machine, and a server writes one per
 * request. pino's own time function, bindings (pid) and stream are used as they are.
 */
export function logRequest(log: Logger, f: RequestFields): void {
  if (!log.isLevelEnabled("info")) return;
  const own = log as unknown as Record<symbol, unknown>;
  const time = (own[pino.symbols.timeSym] as () => string)();
  const bindings = own[pino.symbols.chindingsSym] as string;
  const reason = f.reason === undefined ? "" : `,"reason":${JSON.stringify(f.reason)}`;
  const line = `{"level":30${time}${bindings},"msg":"request","method":${JSON.stringify(f.method)},"path":${JSON.stringify(f.path)},"status":${f.status},"ms":${JSON.stringify(f.ms)},"client":${JSON.stringify(f.client)}${reason}}\n`;
  (own[pino.symbols.streamSym] as DestinationStream).write(line);
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
