// Which CPU a thread is on, or queued on, from Linux's /proc: what lets a
// thread that waits for its partner tell "the partner waits for my core"
// (then sleeping hands the core over) from "the partner waits for another
// core" (then spinning keeps this one ready for the moment it is back).
// Elsewhere (no /proc) the answers are undefined and callers do without.
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';

/** This thread's kernel thread id (Linux), or 0 when it cannot be known. */
export function ownTid(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : 0;
  } catch {
    return 0;
  }
}

/**
 * /proc/<tid>/stat of one thread, kept open and read again from offset 0
 * (one pread, a few µs): `cpu()` is its field 39, the CPU it last ran on —
 * for a thread that is runnable but not running, the CPU whose run queue it
 * waits in.
 */
export class CpuOf {
  private fd: number | undefined;
  private readonly buf = Buffer.alloc(1024);

  constructor(readonly tid: number) {
    if (tid <= 0) return;
    try {
      this.fd = openSync(`/proc/${tid}/stat`, 'r');
    } catch {
      this.fd = undefined;
    }
  }

  /** The CPU number, or -1 when it cannot be read. */
  cpu(): number {
    if (this.fd === undefined) return -1;
    try {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      // Fields after the command name, which ends at the last ')': field 3 is index 0.
      let at = this.buf.lastIndexOf(0x29, n - 1) + 2;
      for (let field = 3; field < 39 && at > 1 && at < n; field++) at = this.buf.indexOf(0x20, at) + 1;
      if (at <= 1 || at >= n) return -1;
      let cpu = 0;
      for (let c = this.buf[at]!; c >= 0x30 && c <= 0x39; c = this.buf[++at]!) cpu = cpu * 10 + c - 0x30;
      return cpu;
    } catch {
      return -1;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
