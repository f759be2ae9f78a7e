/** Where the CLI writes: stdout, stderr, and transient progress (stderr on a terminal only). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  progress(line: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  progress: (line) => {
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
  },
};
