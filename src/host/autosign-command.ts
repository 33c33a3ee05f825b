/**
 * Runs Puppet's policy-based autosign executable: the certname as its only argument, the
 * CSR PEM on stdin, cwd "/", exit 0 means sign. It runs in its own process group so a
 * timeout kills the whole script (a shell's `sleep` child included), and the caller gets
 * its answer at the deadline without waiting for stray descendants. Nothing here blocks
 * the event loop: other requests proceed while a policy runs.
 */
import { spawn } from "node:child_process";

export interface CommandOutcome {
  /** Exit code, or null when killed or never started. */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Why it could not start (ENOENT, EACCES...). */
  spawnError?: string;
}

/** Output beyond this is dropped: a policy that prints megabytes must not fill the log or memory. */
const MAX_OUTPUT = 64 * 1024;

export function runAutosignCommand(command: string, certname: string, csrPem: string, timeoutMs: number): Promise<CommandOutcome> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const finish = (o: Omit<CommandOutcome, "stdout" | "stderr">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...o, stdout, stderr });
    };
    const child = spawn(command, [certname], { cwd: "/", stdio: ["pipe", "pipe", "pipe"], detached: true });
    const timer = setTimeout(() => {
      try {
        // Negative pid: the whole process group the detached child leads.
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      finish({ code: null, timedOut: true });
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.slice(0, MAX_OUTPUT - stdout.length);
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.slice(0, MAX_OUTPUT - stderr.length);
    });
    child.on("error", (e) => finish({ code: null, timedOut: false, spawnError: e.message }));
    child.on("exit", (code) => {
      // Output still buffered in the pipes arrives before 'close'; wait briefly for it, not for grandchildren.
      const late = setTimeout(() => finish({ code, timedOut: false }), 200);
      child.on("close", () => {
        clearTimeout(late);
        finish({ code, timedOut: false });
      });
    });
    // A policy that ignores stdin closes the pipe early: that is not an error.
    child.stdin.on("error", () => undefined);
    child.stdin.end(csrPem);
  });
}
