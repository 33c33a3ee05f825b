/** Where a command prints. Tests pass buffers; main passes the process streams. */
export interface Io {
  out(line: string): void;
  /**
   * Large output as bytes (UTF-8, ending in a newline), for `list` at a million lines: text
   * chunks were decoded to strings and encoded back by the stream, each a fresh 1 MB of
   * memory. Resolves once the bytes are handed off, so the caller may reuse the buffer and
   * the reader sets the pace (a producer that outran a pipe held every chunk in memory).
   */
  outBytes?(bytes: Buffer): Promise<void>;
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
    outBytes: (bytes) =>
      new Promise<void>((resolve) => {
        if (stdoutGone) return resolve();
        // The callback runs once the bytes are written, or with the error when the reader is
        // gone (then the error handler above has marked it): either way the buffer is free.
        process.stdout.write(bytes, () => resolve());
      }),
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
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    // As out() would have received it: the text without its last newline.
    outBytes: async (b) => void stdout.push(b.toString("utf8", 0, b.length - 1)),
    err: (l) => stderr.push(l),
    progress: () => undefined,
    isTTY: false,
    env,
    cwd,
  };
}
