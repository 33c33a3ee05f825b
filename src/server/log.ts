/**
 * Structured logs: JSON lines on stdout, one per request (app.ts) and one per state change
 * (the CA's audit events, below). Key material never reaches a log call: events carry
 * names, serials and fingerprints only.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import type { AuditEvent } from "../ca/authority.js";
import type { LogLevel } from "../config/index.js";

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

/** The CA's audit callback: "signed agent1 by admin.example.com from 10.0.0.5". */
export function auditLogger(log: Logger): (e: AuditEvent) => void {
  return (e) =>
    log.info(
      { msg: "audit", event: e.event, name: e.name, who: e.actor.who, from: e.actor.from, ...(e.serial ? { serial: e.serial } : {}), ...(e.detail ? { detail: e.detail } : {}) },
    );
}
