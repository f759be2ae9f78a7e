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
  | 'split_dev_use'
  | 'split_dev_should_notify'
  | 'split_dev_set_notify'
>;

export type EngineName = 'wasm' | 'reference';

/** The operations of a packed ring engine: the Wasm core, or reference/packed.ts. */
export type PackedEngine = Pick<
  WasmCore,
  | 'packed_drv_init'
  | 'packed_drv_add'
  | 'packed_drv_kick_prepare'
  | 'packed_drv_get_used'
  | 'packed_drv_disable_cb'
  | 'packed_drv_enable_cb'
  | 'packed_dev_init'
  | 'packed_dev_pop'
  | 'packed_dev_push'
  | 'packed_dev_use'
  | 'packed_dev_should_notify'
  | 'packed_dev_set_notify'
  | 'packed_drv_add_in_order'
  | 'packed_drv_get_used_in_order'
  | 'packed_dev_pop_in_order'
  | 'packed_dev_push_in_order'
>;
