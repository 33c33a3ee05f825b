/** Where a command prints. Tests pass buffers; main passes the process streams. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Progress on stderr, only to a terminal, so pipes and --format json stay clean. */
  progress(text: string): void;
  readonly isTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export function processIo(): Io {
  const isTTY = Boolean(process.stderr.isTTY);
  // `fleetca ca list --all | head`: once the reader is gone, stop printing but finish the
  // work (a `sign --all` must not stop halfway because nobody reads its report).
  let stdoutGone = false;
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    stdoutGone = true;
  });
  return {
    out: (l) => {
      if (!stdoutGone) process.stdout.write(`${l}\n`);
    },
    err: (l) => process.stderr.write(`${l}\n`),
    progress: (t) => {
      if (isTTY) process.stderr.write(`\r\x1b[2K${t}`);
    },
    isTTY,
    env: process.env,
    cwd: process.cwd(),
  };
}

/** Collects output in memory (tests, and the server's in-process use of commands). */
export function bufferIo(env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), progress: () => undefined, isTTY: false, env, cwd };
}
