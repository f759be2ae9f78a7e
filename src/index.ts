// vqsim's public surface, the package's main entry (`vqsim`): guest memory,
// the rings, the guest DMA API and its backends, createMachine and the
// deployments, the stats registry, the cost model, the trust policy, the
// catalogue and the attack runner, and the errors. The subpaths are in
// src/entry (devices, transport, threads, testing). src/internal.ts is the
// in-repo barrel of everything, for the tests and the CLI.
export * from './entry/index.js';
