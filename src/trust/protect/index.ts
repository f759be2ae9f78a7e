// End-to-end protection over untrusted devices (issue #11): the record layer
// for virtio-net and the sector crypt layer for virtio-blk.
export * from './errors.js';
export * from './keys.js';
export * from './record.js';
export * from './sector.js';
