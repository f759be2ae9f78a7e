// The progress line on stderr: `[k/N] case … ETA 12s`, only where stderr is a
// terminal (Io.progress decides), and cleared before anything else is written.
import type { Io } from './io.js';

export class ProgressLine {
  private k = 0;
  private readonly start: number;

  constructor(
    private readonly io: Io,
    private readonly total: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.start = now();
  }

  /** Announces the next case; the ETA extrapolates the mean time of the cases done so far. */
  step(label: string): void {
    const done = this.k++;
    let eta = '';
    if (done > 0) {
      const left = ((this.now() - this.start) / done) * (this.total - done);
      eta = ` ETA ${formatEta(left)}`;
    }
    this.io.progress(`[${this.k}/${this.total}] ${label} …${eta}`);
  }

  /** Clears the line, so the table does not start on it. */
  clear(): void {
    this.io.progress('');
  }
}

export function formatEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
