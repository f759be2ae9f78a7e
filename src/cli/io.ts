/** Where the CLI writes: stdout, stderr, and transient progress (stderr on a terminal only). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  progress(line: string): void;
  /** --quiet: no progress line and no warnings on stderr (the `--json` document still has them). */
  quiet?: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  progress: (line) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
  },
};

/** The same Io without progress and warnings: --quiet. */
export function quietIo(io: Io): Io {
  return { out: (t) => io.out(t), err: (t) => io.err(t), progress: () => {}, quiet: true };
}

/**
 * A reader that exits early (`vqsim bench --json | head -1`) closes the pipe:
 * stdout's next write fails with EPIPE. That is the reader's choice, not an
 * error: stop quietly with status 0, as cat and grep do.
 */
export function quietOnEpipe(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
}
