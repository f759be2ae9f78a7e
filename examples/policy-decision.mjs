// A trust policy in Cedar decides, device by device, what the guest trusts:
// vendor A's virtio-net revision 2 attaches trusted (direct DMA into private
// memory), other virtio-net devices attach untrusted (bounced through
// swiotlb), everything else is refused. The machine records each decision
// with the policies that made it.
import { createMachine, TrustPolicy } from 'vqsim';

const policy = TrustPolicy.fromText({
  name: 'ours.cedar',
  text: `
@id("vendor-a-net-rev2")
permit (principal is Vqsim::Device, action == Vqsim::Action::"attach_trusted", resource)
when { principal.kind == "net" && principal.vendor == 4660 && principal.revision == 2 };

@id("other-net-bounced")
permit (principal is Vqsim::Device, action == Vqsim::Action::"attach_untrusted", resource)
when { principal.kind == "net" };

@id("pci")
permit (principal, action == Vqsim::Action::"use_transport", resource)
when { principal.transport == "pci" };

@id("features")
permit (principal, action == Vqsim::Action::"negotiate_feature", resource);
`,
});

// A confidential VM whose devices present TDISP reports: only an attested,
// accepted device can be trusted with private memory, and only if the policy says so.
const m = createMachine({
  deployment: 'cvm-tdisp',
  policy,
  devices: [
    { kind: 'net', vendor: 0x1234, revision: 2 }, // vendor A, revision 2
    { kind: 'net' }, // another vendor's virtio-net
    { kind: 'blk', capacityBytes: 1 << 20 }, // not in the policy
  ],
});
for (const d of m.devices) console.log(`${d.name}: attached, dma ${d.dma.backend.name}`);
for (const r of m.refused) console.log(`${r.name}: refused (${r.reason})`);
for (const d of m.decisions().filter((x) => x.event === 'attach' && x.allowed)) {
  console.log(`${d.device} ${d.action}: ${d.policies.join(', ')}`);
}
m.close();
