// comlink ships node-adapter.d.ts beside node-adapter.mjs, but its package
// exports give TypeScript no path to it; this names the module's one export.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort, Worker } from 'node:worker_threads';
  export default function nodeEndpoint(nep: Worker | MessagePort): Endpoint;
}
