/**
 * Where `fleetca console adduser|passwd` take the password from, in this order: the file
 * named by --password-file (its first line), the FLEETCA_CONSOLE_PASSWORD environment
 * variable (for scripts; it shows in the process environment, so prefer a file), or the
 * terminal (asked twice, not echoed), or else the first line of standard input.
 */
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Io } from "../io.js";

export const PASSWORD_ENV = "FLEETCA_CONSOLE_PASSWORD";

const firstLine = (text: string): string => text.split(/\r?\n/, 1)[0] ?? "";

async function fromTerminal(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode?.(true);
  stdin.resume();
  let text = "";
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") return done(() => resolve(text));
          if (ch === "\u0003") return done(() => reject(new Error("interrupted")));
          if (ch === "\u007f") text = text.slice(0, -1);
          else text += ch;
        }
      };
      const done = (fn: () => void) => {
        stdin.off("data", onData);
        fn();
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode?.(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

async function fromStdin(): Promise<string> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return "";
}

export async function readPassword(io: Io, file: string | undefined): Promise<string> {
  if (file !== undefined) return firstLine(await readFile(file, "utf8"));
  const env = io.env[PASSWORD_ENV];
  if (env !== undefined) return env;
  if (process.stdin.isTTY) {
    const first = await fromTerminal("New console password: ");
    const again = await fromTerminal("Again: ");
    if (first !== again) throw Object.assign(new Error("The two passwords differ; nothing was changed."), { code: "EPASSWORD" });
    return first;
  }
  return fromStdin();
}
