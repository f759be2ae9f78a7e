export * from './constants.js';
export * from './device.js';
