import tseslint from 'typescript-eslint';

// The rooms of src/ and what each may not import (../shared/design.md, "Layers
// and what each may touch"). Imports are relative, so a rule matches the folder
// name anywhere in the specifier: '../../devices/net/device.js' from
// src/drivers/net/ reaches src/devices whatever the depth.
const room = (...names) => `(^|/)(${names.join('|')})(/|$)`;

/** A files override that forbids imports reaching into `rooms` from src/<dir>. */
function layer(dir, rooms, message) {
  return {
    files: [`src/${dir}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: room(...rooms), caseSensitive: true, message }] }],
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'build/', 'assembly/', 'coverage/', '.device/', 'docs/api/', 'test-results/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // src/spec: constants only. It imports nothing but its own files and the
  // layout files it names (assembly/**/layout.ts, shared with the Wasm core).
  {
    files: ['src/spec/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./[\\w-]+\\.js$|\\.\\./\\.\\./assembly/([\\w-]+/)?layout\\.js$)',
              caseSensitive: true,
              message: 'src/spec imports nothing: only its own files and the assembly/ layout files it names.',
            },
          ],
        },
      ],
    },
  },
  layer(
    'memory',
    ['virtqueue', 'dma', 'devices', 'drivers', 'transport', 'sim', 'cli'],
    'src/memory is the bottom room: it may not import the rooms built on it (virtqueue, dma, transport, ' +
      'devices, drivers, sim, cli).',
  ),
  layer(
    'transport',
    ['drivers', 'devices'],
    'src/transport is the device side of PCI and MMIO: it may not import drivers or device models ' +
      '(constants live in src/spec).',
  ),
  layer(
    'devices',
    ['drivers'],
    'src/devices is host code: it may not import the guest drivers (constants live in src/spec).',
  ),
  layer(
    'drivers',
    ['devices', 'transport'],
    'src/drivers is guest code: it may not import device models (src/devices) or the device side of the ' +
      'transports (src/transport); constants live in src/spec, register access in src/drivers/transport-access.ts.',
  ),
);
