/**
 * Polls `cond` every few ms until it holds or `ms` pass; returns whether it
 * held. For tests that wait on another thread: the wait is bounded, and the
 * caller asserts the result, so a side that stops answering fails the test
 * instead of leaving a loop running after it (a test timeout stops neither).
 */
export async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}
