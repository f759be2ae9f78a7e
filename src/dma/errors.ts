/**
 * A misuse of the DMA API by a driver, or a device access the DMA view
 * refused. Codes (the DMA-API debug messages of Linux's kernel/dma/debug.c
 * in brackets, where there is one):
 *
 * - DMA_BAD_DIRECTION: not TO_DEVICE, FROM_DEVICE or BIDIRECTIONAL.
 * - DMA_BAD_LENGTH: a length that is not a whole number of at least 1.
 * - DMA_OUTSIDE_RAM: mapping or allocating memory outside guest RAM.
 * - DMA_NOT_MAPPED: unmapping or syncing what was never mapped ["device driver
 *   tries to free DMA memory it has not allocated"].
 * - DMA_SIZE_MISMATCH: unmapping with another size ["frees DMA memory with different size"].
 * - DMA_DIRECTION_MISMATCH: unmapping or syncing with another direction
 *   ["frees DMA memory with different direction"].
 * - DMA_NOT_COHERENT: freeing a coherent region that was not allocated.
 * - DMA_FAULT: a device access through its DMA view outside what it may reach.
 * - DMA_BAD_BACKEND: an unknown backend name.
 * - DMA_MAPPING_ERROR: the backend could not map (dma_mapping_error() is
 *   true): no IOVA space left, no bounce page; the driver drops or retries.
 */
export { DmaError } from '../memory/dma-context.js';
