// The CLI in process: main() with an Io that keeps what it wrote, so a test
// reads the exit code, stdout and stderr of one `vqsim` invocation.
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';

export async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), progress: () => {} };
  const code = await main(argv, io);
  return { code, out, err };
}
