import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds build/vqsim.wasm when it is missing or older than assembly/.
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
  },
});
