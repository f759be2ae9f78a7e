// Attack scenarios for the interrupt-layer entries of the violation
// catalogue: a device that injects interrupts when the driver is not ready
// for them, storms the line, or raises config-change interrupts from inside
// the config read the driver's handler does. The victim is the guest access
// (src/drivers/transport-access.ts), hardened or naive.
import { Isr } from '../../spec/config.js';
import { IRQ_STORM_WINDOW } from '../../drivers/transport-access.js';
import { probeDevice, readConfigStable, type ProbedDevice } from '../../drivers/probe.js';
import { Feature } from '../../spec/features.js';
import type { AttackOutcome, Scenario } from '../attack/types.js';
import { caught, exercise, probe, rig, SIM_SPIN_BUDGET } from './transport.js';

/** Config-change interrupts the storming device raises from its config read hook before it stops. */
export const CONFIG_STORM_RAISES = 100_000;

export const interruptScenarios: readonly Scenario[] = [
  {
    id: 'irq-not-ready',
    violation: 'IRQ_NOT_READY',
    attacker: 'device',
    title: 'used-buffer interrupts while the driver probes (before DRIVER_OK) and after it reset the device',
    run(ctx) {
      // INTx, so the ISR byte (which the device answers) names the cause.
      const r = rig(ctx, { msix: false, lies: [{ space: 'isr', answer: () => Isr.QUEUE }] });
      let ran = 0;
      r.access.onQueueInterrupt(0, () => {
        ran++;
        return true;
      });
      try {
        // Injected while the driver validates features: after find_vqs would have set callbacks, before DRIVER_OK.
        probeDevice(r.access, r.mem, {
          features: 1n << BigInt(Feature.EVENT_IDX),
          queueSize: 64,
          validate: () => r.pci!.raise({ line: 'intx' }),
        });
      } catch (e) {
        return caught(e, r);
      }
      // And after the driver reset the device (a remove, a reset on error).
      r.access.reset();
      r.pci!.raise({ line: 'intx' });
      const afterReset = ran;
      const c = r.access.counters;
      const detected = c.irqNotReady > 0;
      return {
        detected,
        violation: detected ? 'IRQ_NOT_READY' : undefined,
        reaction: detected ? 'clamped' : 'none',
        bytesLeaked: 0,
        bytesCorrupted: r.damage.corrupted(),
        hung: false,
        note: `the queue callback ran ${afterReset} time(s) on a queue that was not live; ${c.irqNotReady} interrupt(s) ignored`,
      };
    },
  },
  {
    id: 'irq-storm',
    violation: 'IRQ_STORM',
    attacker: 'device',
    title: `${IRQ_STORM_WINDOW} used-buffer interrupts on queue 0's vector with nothing in the used ring`,
    run(ctx) {
      const r = rig(ctx);
      let d: ProbedDevice;
      try {
        d = probe(r);
      } catch (e) {
        return caught(e, r);
      }
      const vq = d.queues[0]!;
      let handlerRuns = 0;
      // vring_interrupt: no used buffer is IRQ_NONE.
      r.access.onQueueInterrupt(0, () => {
        handlerRuns++;
        return vq.driver.getUsed().length > 0;
      });
      for (let i = 0; i < IRQ_STORM_WINDOW; i++) r.pci!.raise({ line: 'msix', vector: 1 });
      // The driver still makes progress: its chain completes (by polling once the line is off).
      r.access.onQueueInterrupt(0, () => false);
      const done = exercise(r, d);
      const c = r.access.counters;
      const detected = c.irqLineDisabled > 0;
      return {
        detected,
        violation: detected ? 'IRQ_STORM' : undefined,
        reaction: detected ? 'clamped' : 'none',
        bytesLeaked: 0,
        bytesCorrupted: r.damage.corrupted(),
        hung: !done,
        note: `the handler ran ${handlerRuns} times for nothing; line ${detected ? 'disabled' : 'left on'}; ${done ? 'the next chain completed' : 'the next chain never completed'}`,
      };
    },
  },
  {
    id: 'config-irq-storm',
    violation: 'CONFIG_IRQ_STORM',
    attacker: 'device',
    title: `the device raises a config-change interrupt from every config read, ${CONFIG_STORM_RAISES} times`,
    run(ctx): AttackOutcome {
      let raises = 0;
      const r = rig(ctx, {
        device: {
          onConfigRead: (_o, _w, honest, dctx) => {
            if (raises < CONFIG_STORM_RAISES) {
              raises++;
              dctx.raiseConfigInterrupt();
            }
            return honest;
          },
        },
      });
      try {
        probe(r);
      } catch (e) {
        return caught(e, r);
      }
      const a = r.access;
      let reads = 0;
      // The driver's config handler, as virtnet_config_changed_work does: a stable read of a field.
      a.onConfigInterrupt(() => {
        reads++;
        readConfigStable(a, () => a.readConfig(0, 2));
      });
      let crash: string | undefined;
      let polls = 0;
      try {
        r.dev.ctx.configChanged();
        // The driver's own poll loop serves what the budget left pending; it is bounded too.
        while (a.configWorkPending && polls < SIM_SPIN_BUDGET) {
          a.poll();
          polls++;
        }
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        crash = `${e.name}: ${e.message}`;
      }
      const c = a.counters;
      const detected = ctx.hardened && c.configWorkThrottled > 0;
      return {
        detected,
        violation: detected ? 'CONFIG_IRQ_STORM' : undefined,
        reaction: detected ? 'clamped' : 'none',
        bytesLeaked: 0,
        bytesCorrupted: r.damage.corrupted(),
        hung: a.configWorkPending,
        note: crash
          ? `the driver crashed after ${reads} nested config handlers (${crash})`
          : `${raises} interrupts, ${reads} handler runs out of the interrupt in ${polls} polls, throttled ${c.configWorkThrottled} times`,
      };
    },
  },
];
