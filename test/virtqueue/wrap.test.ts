// 16-bit index wrap-around: several laps past 65535 with event index on and
// off, queue sizes 1, 4 and 256. Every token comes back exactly once and in
// used-ring order; avail idx and used idx in the ring wrap to 0; every kick and
// interrupt decision is the one vring_need_event() (or the flags) gives for
// the values in the ring at that moment, with events steered to land just
// before and after 65535; the stats block counts every chain and decision.
import { describe, expect, it } from 'vitest';
import * as L from '../../assembly/layout.js';
import { GuestMemory, MockSplitQueue, SplitQueue } from '../../src/internal.js';
import { int, needEvent, rng } from '../helpers/ring.js';

const configs = [1, 4, 256].flatMap((size) => [false, true].map((eventIdx) => ({ size, eventIdx })));

describe('index wrap-around', () => {
  it.each(configs)('size $size, eventIdx $eventIdx: several laps past 65535', ({ size, eventIdx }) => {
    const laps = size === 256 ? 3 : 2;
    const total = laps * 65536 + 1000;
    const mem = new GuestMemory({ size: 1 << 20 });
    const q = new SplitQueue(mem, { size, eventIdx, indirect: size > 1 });
    const mock = new MockSplitQueue(q);
    const buf = mem.alloc(0x10000, { shared: true });
    const r = rng(size * 2 + (eventIdx ? 1 : 0));

    let added = 0;
    let reaped = 0;
    let kickCalls = 0;
    let kicks = 0;
    let irqCalls = 0;
    let irqs = 0;
    let signalled = -1; // used idx at the last interrupt decision
    let notifyOn = true;
    let callbacksOn = true;
    let descs = 0;
    let bytesAdded = 0;
    let bytesUsed = 0;
    const seen = new Uint8Array(total + 1024);
    // Coverage of the interesting cases, asserted at the end.
    let availWraps = 0;
    let usedWraps = 0;
    let kickNearWrap = 0;
    let irqNearWrap = 0;
    let suppressedKicks = 0;
    let suppressedIrqs = 0;
    let irqWhileDisabled = 0;
    const near = (e: number) => e >= 0xfffa || e <= 5;
    // expect() costs microseconds; this loop makes millions of checks.
    const ok = (cond: boolean, what: () => string) => {
      if (!cond) throw new Error(`after ${added} chains: ${what()}`);
    };
    const maxK = Math.max(1, size / 2); // chains take up to two descriptors

    while (added < total) {
      const idx = added & 0xffff;
      const zone = idx >= 0x10000 - 3 * size - 8 || idx <= 8;
      // Steer: in the zone around 65535 step by 1..3 so events land on every index there.
      const k = zone ? int(r, 1, Math.min(3, maxK)) : int(r, 1, maxK);
      if (r() < 0.1 || (zone && idx < 0x8000 && r() < 0.3)) {
        notifyOn = !notifyOn;
        const waiting = q.device.setNotify(notifyOn);
        ok(!waiting, () => 'setNotify says chains wait, but all were popped');
      }
      if (r() < 0.1 || (zone && r() < 0.2)) {
        callbacksOn = !callbacksOn;
        if (callbacksOn) ok(q.driver.enableCallbacks(), () => 'enableCallbacks sees used chains, none are pending');
        else q.driver.disableCallbacks();
      }

      const old = mock.availIdx;
      for (let j = 0; j < k; j++) {
        const t = added + j;
        const out = [{ addr: buf + (t % 512) * 64, len: 16 + (t % 48) }];
        const inb = size > 1 && t % 2 === 1 ? [{ addr: buf + 0x8000 + (t % 256) * 64, len: 64 }] : [];
        ok(q.driver.add(out, inb, t, { indirect: t % 3 === 0 }), () => `add of token ${t} found no room`);
        descs += out.length + inb.length;
        bytesAdded += out[0]!.len + (inb.length ? 64 : 0);
      }
      added += k;
      const now = mock.availIdx;
      ok(now === (added & 0xffff), () => `avail idx ${now}`);
      if (now < old) availWraps++;

      // Kick decision: vring_need_event(avail_event, new, old), or the flag.
      const availEvent = mock.availEvent;
      const wantKick = eventIdx ? needEvent(availEvent, now, old) : (mock.usedFlags & L.VRING_USED_F_NO_NOTIFY) === 0;
      const kick = q.driver.kick();
      ok(kick === wantKick, () => `kick ${kick} for event ${availEvent} new ${now} old ${old}`);
      kickCalls++;
      if (kick) kicks++;
      else suppressedKicks++;
      if (eventIdx && near(availEvent) && now < old) kickNearWrap++;

      // Device: pop everything, push back in a random order, in one or two pushes.
      const chains = q.device.pop();
      ok(chains.length === k, () => `popped ${chains.length} of ${k}`);
      for (let j = chains.length - 1; j > 0; j--) {
        const s = int(r, 0, j);
        [chains[j], chains[s]] = [chains[s]!, chains[j]!];
      }
      const elems = chains.map((c) => ({ id: c.id, len: c.writeBytes ? int(r, 0, c.writeBytes) : 0 }));
      const split = int(r, 0, elems.length);
      const order: number[] = [];
      for (const part of [elems.slice(0, split), elems.slice(split)]) {
        if (part.length === 0) continue;
        const before = mock.usedIdx;
        ok(q.device.push(part) === part.length, () => 'short push');
        part.forEach((e) => (bytesUsed += e.len));
        const usedNow = mock.usedIdx;
        if (usedNow < before) usedWraps++;
        const usedEvent = mock.usedEvent;
        const want = eventIdx
          ? signalled < 0 || needEvent(usedEvent, usedNow, signalled)
          : (mock.availFlags & L.VRING_AVAIL_F_NO_INTERRUPT) === 0;
        const irq = q.device.shouldNotify();
        ok(irq === want, () => `interrupt ${irq} for event ${usedEvent} new ${usedNow} old ${signalled}`);
        signalled = usedNow;
        irqCalls++;
        if (irq) irqs++;
        else suppressedIrqs++;
        if (eventIdx && near(usedEvent) && usedNow < before && irq) irqNearWrap++;
        if (irq && !callbacksOn) irqWhileDisabled++;
        order.push(...part.map((e) => e.id));
      }
      // The driver gets every token once, in used-ring order, with the pushed len.
      const got = q.driver.getUsed();
      const byId = new Map(chains.map((c, j) => [c.id, elems[j]!.len]));
      ok(got.length === order.length, () => `reaped ${got.length} of ${order.length}`);
      got.forEach((c, j) => {
        ok(c.len === byId.get(order[j]!), () => `completion ${j} has len ${c.len}, not the pushed one`);
        ok(c.token >= added - k && c.token < added && seen[c.token] === 0, () => `token ${c.token} unexpected`);
        seen[c.token] = 1;
      });
      reaped += got.length;
      ok(mock.usedIdx === (added & 0xffff), () => `used idx ${mock.usedIdx}`);
      ok(q.driver.numFree === size, () => `${q.driver.numFree} descriptors free`);
    }

    expect(reaped).toBe(added);
    expect(seen.subarray(0, added).every((x) => x === 1)).toBe(true);
    expect(availWraps).toBe(laps);
    expect(usedWraps).toBe(laps);
    const s = q.stats();
    expect(s).toMatchObject({
      chainsAdded: added,
      chainsPopped: added,
      chainsUsed: added,
      chainsCompleted: added,
      descsAdded: descs,
      bytesAdded,
      bytesUsed,
      bytesCompleted: bytesUsed,
      kicks,
      kicksSuppressed: kickCalls - kicks,
      interrupts: irqs,
      interruptsSuppressed: irqCalls - irqs,
      driverChecksFailed: 0,
      deviceChecksFailed: 0,
    });
    // Both count buffers: an indirect chain's table entries are popped one by one.
    expect(s.descsPopped).toBe(descs);
    if (size > 1) expect(s.indirectAdded).toBeGreaterThan(0);
    // Both decisions went both ways, and events were met right at the wrap.
    expect(suppressedKicks).toBeGreaterThan(0);
    expect(suppressedIrqs).toBeGreaterThan(0);
    expect(kicks).toBeGreaterThan(0);
    if (eventIdx) {
      expect(kickNearWrap).toBeGreaterThan(0);
      expect(irqNearWrap).toBeGreaterThan(0);
      // With event idx, disabled callbacks write used_event = 0 (Linux): the
      // interrupt still comes when used idx passes 0.
      expect(irqWhileDisabled).toBeGreaterThan(0);
    } else {
      expect(irqWhileDisabled).toBe(0);
    }
  });
});
