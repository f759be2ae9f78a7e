import type { SplitEngine } from '../engine.js';
// placeholder while the reference model is written
export class ReferenceSplitEngine implements SplitEngine {
  constructor(readonly memory: WebAssembly.Memory) {}
  split_drv_init(): void {
    throw new Error('todo');
  }
  split_drv_add(): number {
    throw new Error('todo');
  }
  split_drv_kick_prepare(): number {
    throw new Error('todo');
  }
  split_drv_get_used(): number {
    throw new Error('todo');
  }
  split_drv_disable_cb(): void {
    throw new Error('todo');
  }
  split_drv_enable_cb(): number {
    throw new Error('todo');
  }
  split_dev_pop(): number {
    throw new Error('todo');
  }
  split_dev_push(): number {
    throw new Error('todo');
  }
  split_dev_should_notify(): number {
    throw new Error('todo');
  }
  split_dev_set_notify(): number {
    throw new Error('todo');
  }
}
