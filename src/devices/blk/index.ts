export * from './backend.js';
export * from './server.js';
export * from './device.js';
export * from './host.js';
