// The fuzzer's invariant bookkeeping: how a thrown error is classified, and
// the token ledger.
import { describe, expect, it } from 'vitest';
import { VqsimError } from '../../src/errors.js';
import { Checker, Tokens } from '../../src/trust/fuzz/index.js';

const violation = () => new VqsimError('USED_ID_OUT_OF_RANGE', 'vq: id 9 out of range', 'device');

describe('Checker', () => {
  it('counts a catalogue violation in a hostile run, and lets a broken queue follow it', () => {
    const c = new Checker(false, 10);
    expect(
      c.op('reap', () => {
        throw violation();
      }),
    ).toBeUndefined();
    c.op('reap again', () => {
      throw new VqsimError('QUEUE_BROKEN', 'vq is broken', 'device');
    });
    expect(c.violations).toEqual({ USED_ID_OUT_OF_RANGE: 1 });
    expect(c.failure).toBeUndefined();
    expect(c.operations).toBe(2);
  });

  it('calls a violation in an honest run a false positive', () => {
    const c = new Checker(true, 10);
    c.lied('used[0].id = 9');
    c.op('reap', () => {
      throw violation();
    });
    expect(c.failure).toEqual({
      kind: 'false-positive',
      message:
        'reap: an honest run raised USED_ID_OUT_OF_RANGE (side device): vq: id 9 out of range (after the lies: used[0].id = 9)',
    });
    expect(c.done).toBe(true);
  });

  it('fails on a RangeError, a Wasm trap, a user error, and a broken queue no violation explains', () => {
    const cases: [unknown, string][] = [
      [
        new RangeError('offset is outside the bounds of the DataView'),
        'op: RangeError: offset is outside the bounds of the DataView',
      ],
      [new WebAssembly.RuntimeError('memory access out of bounds'), 'op: RuntimeError: memory access out of bounds'],
      [
        new VqsimError('CONFIG', 'size 3: must be a power of two', 'user'),
        'op: CONFIG (side user): size 3: must be a power of two',
      ],
      [new VqsimError('QUEUE_BROKEN', 'vq is broken', 'device'), 'op: QUEUE_BROKEN (side device): vq is broken'],
    ];
    for (const [e, message] of cases) {
      const c = new Checker(false, 10);
      c.op('op', () => {
        throw e;
      });
      expect(c.failure).toEqual({ kind: 'error', message });
    }
  });

  it('calls a wait that a simulator budget ended a hang', () => {
    const c = new Checker(false, 10);
    c.op('wait', () => {
      throw new VqsimError('WORKER_HUNG', 'worker made no progress in 2000 ms', 'host');
    });
    expect(c.failure).toEqual({
      kind: 'hang',
      message: 'wait: WORKER_HUNG (side host): worker made no progress in 2000 ms',
    });
  });

  it('keeps the first failure and stops at its budget', () => {
    const c = new Checker(false, 3);
    c.fail('hang', 'first');
    c.fail('token', 'second');
    expect(c.failure).toEqual({ kind: 'hang', message: 'first' });
    const d = new Checker(false, 3);
    for (let i = 0; i < 3; i++) d.op('x', () => 1);
    expect(d.done).toBe(true);
  });
});

describe('Tokens', () => {
  it('takes a token back once, and only if it was added', () => {
    const t = new Tokens();
    t.add(1);
    t.add(2);
    expect(t.complete(1)).toBeUndefined();
    expect(t.complete(1)).toBe('token 1 returned that is not outstanding (never added, or returned twice)');
    expect(t.complete(7)).toBe('token 7 returned that is not outstanding (never added, or returned twice)');
    expect(t.outstanding).toBe(1);
    expect(t.list()).toEqual([2]);
  });
});
