import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { VqsimError } from '../errors.js';

/** The worker entry points the build makes (scripts/bundle.mjs). */
export type WorkerEntry = 'queue-worker' | 'net-worker' | 'blk-device';

/** The bundle ships workers/ beside itself; from the sources it is in dist/. */
function workerPath(entry: WorkerEntry): string {
  for (const rel of [`./workers/${entry}.js`, `../../dist/workers/${entry}.js`]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`workers/${entry}.js not found: run \`npm run build\` (the package build makes it)`);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * One worker thread running `entry`, controlled through comlink, with the
 * three ways a thread can fail turned into errors that name what it ran
 * (`label`, e.g. "vq0: device worker"): it dies or exits (`WORKER_DIED`), a
 * call into it throws (`WORKER_FAILED`), or its heartbeat stops (`WORKER_HUNG`,
 * and the thread is terminated). Once failed, every pending and later call
 * rejects with that error, so nothing waits forever.
 */
export class ThreadWorker<Api> {
  private readonly worker: Worker;
  readonly api: Remote<Api>;
  /** Rejects when the worker fails; never resolves. */
  readonly dead: Promise<never>;
  private rejectDead!: (e: VqsimError) => void;
  private failure: VqsimError | undefined;
  private released = false;

  constructor(
    entry: WorkerEntry,
    readonly label: string,
  ) {
    this.worker = new Worker(workerPath(entry));
    this.api = wrap<Api>(nodeEndpoint(this.worker));
    this.dead = new Promise<never>((_, reject) => {
      this.rejectDead = reject;
    });
    this.dead.catch(() => {});
    this.worker.once('error', (e) => this.fail(new VqsimError('WORKER_DIED', `${label} failed: ${messageOf(e)}`)));
    this.worker.once('exit', (code) => this.fail(new VqsimError('WORKER_DIED', `${label} exited with code ${code}`)));
  }

  /** The error the worker failed with (WORKER_STOPPED after terminate()), if any. */
  get error(): VqsimError | undefined {
    return this.failure;
  }

  /** Marks the worker failed (first reason wins) and ends its thread. */
  fail(e: VqsimError): void {
    if (this.failure) return;
    this.failure = e;
    this.rejectDead(e);
    void this.worker.terminate();
  }

  /** A call into the worker that rejects, naming the worker, if the worker fails first or the call throws. */
  call<T>(f: () => Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const p = f().catch((e: unknown) => {
      if (e instanceof VqsimError && e.code.startsWith('WORKER_')) throw e;
      const err = new VqsimError('WORKER_FAILED', `${this.label} failed: ${messageOf(e)}`);
      this.fail(err);
      throw err;
    });
    return Promise.race([p, this.dead]);
  }

  /**
   * Watches a heartbeat while `p` runs: when `beat()` has not changed for
   * `hangMs`, the worker is failed with WORKER_HUNG and terminated.
   */
  watch<T>(p: Promise<T>, beat: () => number, hangMs: number): Promise<T> {
    let last = beat();
    let since = Date.now();
    const timer = setInterval(
      () => {
        const now = beat();
        if (now !== last) {
          last = now;
          since = Date.now();
        } else if (Date.now() - since >= hangMs) {
          this.fail(new VqsimError('WORKER_HUNG', `${this.label} hung: no progress for ${hangMs} ms`));
        }
      },
      Math.max(5, Math.min(250, hangMs / 4)),
    );
    timer.unref();
    return p.finally(() => clearInterval(timer));
  }

  /** Ends the thread as a crash would (for tests): pending calls fail with WORKER_DIED. */
  kill(): Promise<number> {
    return this.worker.terminate();
  }

  /** Ends the thread; later calls reject with WORKER_STOPPED. Safe to call twice. */
  async terminate(): Promise<void> {
    if (!this.failure) {
      this.failure = new VqsimError('WORKER_STOPPED', `${this.label} stopped`);
      this.rejectDead(this.failure);
    }
    if (this.released) return;
    this.released = true;
    this.api[releaseProxy]();
    await this.worker.terminate();
  }
}
