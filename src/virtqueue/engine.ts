import type { WasmCore } from '../memory/wasm-core.js';

/**
 * The operations of a split ring engine. The Wasm core implements them, and so
 * does the TypeScript reference model (reference/split.ts) over the same
 * memory, with the same state blocks, so either can drive a queue.
 */
export type SplitEngine = Pick<
  WasmCore,
  | 'split_drv_init'
  | 'split_drv_add'
  | 'split_drv_kick_prepare'
  | 'split_drv_get_used'
  | 'split_drv_disable_cb'
  | 'split_drv_enable_cb'
  | 'split_dev_pop'
  | 'split_dev_push'
  | 'split_dev_should_notify'
  | 'split_dev_set_notify'
>;

export type EngineName = 'wasm' | 'reference';
