// Devices import their view of guest memory from here; it lives with the DMA
// context in the memory room (src/memory/dma-view.ts).
export { DmaView, type DeviceHost, type DeviceCore } from '../memory/dma-view.js';
