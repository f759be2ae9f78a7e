// The layering of src/ is enforced by eslint.config.js (no-restricted-imports
// per room). These cases prove the rules bite: a forbidden import is an error
// that names the rule, an allowed one is clean.
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const eslint = new ESLint({ cwd: root });

/** The messages of no-restricted-imports for `code` as if it were the file at `path` (relative to the root). */
async function restricted(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}/${path}` });
  expect(result!.messages.filter((m) => m.fatal)).toEqual([]);
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('lint: the rooms of src/ import only what they may', () => {
  it('a driver importing a device model is an error', async () => {
    const msgs = await restricted(
      'src/drivers/net/probe-helper.ts',
      "import { VirtioNetDevice } from '../../devices/net/device.js';\nexport const d = VirtioNetDevice;\n",
    );
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/'\.\.\/\.\.\/devices\/net\/device\.js' import is restricted/);
    expect(msgs[0]).toMatch(/src\/drivers is guest code/);
  });

  it('at any depth, and for type imports and re-exports too', async () => {
    expect(
      await restricted(
        'src/drivers/x.ts',
        "import { VirtioNetDevice } from '../devices/net/device.js';\nVirtioNetDevice;\n",
      ),
    ).toHaveLength(1);
    expect(
      await restricted(
        'src/drivers/blk/x.ts',
        "import type { VirtioPciTransport } from '../../transport/pci.js';\nexport type T = VirtioPciTransport;\n",
      ),
    ).toHaveLength(1);
    expect(await restricted('src/devices/net/x.ts', "export * from '../../drivers/net/driver.js';\n")).toHaveLength(1);
  });

  it('a driver importing the spec, the virtqueue and its own transport access is clean', async () => {
    const msgs = await restricted(
      'src/drivers/net/probe-helper.ts',
      [
        "import { NetFeature } from '../../spec/net.js';",
        "import { hasFeature } from '../../virtqueue/features.js';",
        "import { PciDriverAccess } from '../transport-access.js';",
        'export const x = [NetFeature, hasFeature, PciDriverAccess];',
        '',
      ].join('\n'),
    );
    expect(msgs).toEqual([]);
  });

  it('the other rooms: transport, memory and spec', async () => {
    expect(
      await restricted('src/transport/x.ts', "import { BlkDevice } from '../devices/blk/device.js';\nBlkDevice;\n"),
    ).toHaveLength(1);
    expect(
      await restricted('src/transport/x.ts', "import { probeDevice } from '../drivers/probe.js';\nprobeDevice;\n"),
    ).toHaveLength(1);
    expect(await restricted('src/memory/x.ts', "import { DmaApi } from '../dma/api.js';\nDmaApi;\n")).toHaveLength(1);
    expect(await restricted('src/spec/x.ts', "import { VqsimError } from '../errors.js';\nVqsimError;\n")).toHaveLength(
      1,
    );
    expect(
      await restricted(
        'src/spec/x.ts',
        "import { Feature } from './features.js';\nimport * as L from '../../assembly/layout.js';\nexport const x = [Feature, L];\n",
      ),
    ).toEqual([]);
    // A device model may import the transport's device side and the spec.
    expect(
      await restricted(
        'src/devices/net/x.ts',
        "import type { VirtioDeviceModel } from '../../transport/device-model.js';\nimport { NetConfig } from '../../spec/net.js';\nexport type M = VirtioDeviceModel;\nexport const c = NetConfig;\n",
      ),
    ).toEqual([]);
  });
});
