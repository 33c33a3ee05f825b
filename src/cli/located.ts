/**
 * The commands a message names (`fleetca ca clean NAME`, "Run `fleetca ca check --repair`") come from every layer,
 * and most layers do not know how this invocation found its CA. An operator who typed `--cadir /srv/ca` and pastes
 * `fleetca ca clean NAME` back would act on the default CA instead (or on none): so every line a `ca`, `console` or
 * `server` command prints has the `fleetca ca|console VERB` commands in it completed here, in one place, with the
 * location flags the operator typed.
 */
import path from "node:path";
import { redactUrl } from "../store/postgres/url.js";
import type { Io } from "./io.js";

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/** The location flags as typed (absolute paths; a store URL without its password: PGPASSWORD or ~/.pgpass supply it). */
export function locationFlags(opts: { config?: unknown; cadir?: unknown; store?: unknown }, cwd: string): string {
  const parts: string[] = [];
  if (typeof opts.config === "string") parts.push("--config", shellWord(path.resolve(cwd, opts.config)));
  if (typeof opts.cadir === "string") parts.push("--cadir", shellWord(path.resolve(cwd, opts.cadir)));
  if (typeof opts.store === "string") parts.push("--store", shellWord(/^postgres(ql)?:/.test(opts.store) ? redactUrl(opts.store) : opts.store));
  return parts.join(" ");
}

const COMMAND = /\bfleetca (ca|console) ([a-z][a-z-]*)/g;

/**
 * `text` with `flags` inserted after each `fleetca ca|console VERB` it names, unless that command (up to a closing
 * backtick, parenthesis or the end of the line) already says where the CA is.
 */
export function completeCommands(text: string, flags: string): string {
  if (!flags) return text;
  return text.replace(COMMAND, (m: string, _group: string, _verb: string, offset: number) => {
    const rest = /^[^`)\n]*/.exec(text.slice(offset + m.length))?.[0] ?? "";
    return /--(cadir|store|config)\b/.test(rest) ? m : `${m} ${flags}`;
  });
}

/** An Io that completes commands in what it prints; `locate` sets the flags once the command's options are parsed. */
export function locatedIo(inner: Io): { io: Io; locate(flags: string, jsonOut: boolean): void } {
  let flags = "";
  let jsonOut = false;
  const io: Io = {
    out: (l) => inner.out(jsonOut ? l : completeCommands(l, flags)),
    // Bytes pass as they are unless they name a command to complete (list's notes can).
    outBytes: inner.outBytes && (async (b) => {
      if (jsonOut || !flags || b.indexOf("fleetca ") < 0) return inner.outBytes!(b);
      io.out(b.toString("utf8", 0, b.length - 1));
    }),
    err: (l) => inner.err(completeCommands(l, flags)),
    progress: (t) => inner.progress(t),
    get isTTY() {
      return inner.isTTY;
    },
    get env() {
      return inner.env;
    },
    get cwd() {
      return inner.cwd;
    },
  };
  return {
    io,
    locate: (f, j) => {
      flags = f;
      jsonOut = j;
    },
  };
}
