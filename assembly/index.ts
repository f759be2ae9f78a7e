// The Wasm core of vqsim. Every function works on state blocks whose linear
// addresses TypeScript passes in; the module keeps no state of its own, so any
// number of instances (one per worker) can share one memory.
export {
  split_drv_init,
  split_drv_add,
  split_drv_kick_prepare,
  split_drv_get_used,
  split_drv_disable_cb,
  split_drv_enable_cb,
} from "./split/driver";
export { split_dev_pop, split_dev_push, split_dev_use, split_dev_should_notify, split_dev_set_notify } from "./split/device";
export {
  packed_drv_init,
  packed_drv_add,
  packed_drv_kick_prepare,
  packed_drv_get_used,
  packed_drv_disable_cb,
  packed_drv_enable_cb,
  packed_drv_add_in_order,
  packed_drv_get_used_in_order,
} from "./packed/driver";
export {
  packed_dev_init,
  packed_dev_pop,
  packed_dev_push,
  packed_dev_use,
  packed_dev_should_notify,
  packed_dev_set_notify,
  packed_dev_pop_in_order,
  packed_dev_push_in_order,
} from "./packed/device";
export { dma_copy, dma_copy_batch } from "./copy";
export { dma_map, dma_fill, dma_count, dma_commit } from "./mem/dma";
export { swiotlb_init, swiotlb_map, swiotlb_unmap, swiotlb_sync } from "./mem/swiotlb";
export { net_stash, net_run } from "./net/device";
export { net_drv_rx, net_drv_tx_reclaim, net_drv_tx_build } from "./net/driver";
