/**
 * tcx (Linux 6.6): tc programs attached to an interface's ingress or egress
 * through a bpf_link, without a qdisc or filter. The link owns the
 * attachment: closing its last reference (or LINK_DETACH) removes exactly
 * this program, and LINK_UPDATE swaps the program atomically.
 */
import { linkCreateAttr } from './attr.js';
import { interfaceIndex, Link } from './link.js';
import type { TcDirection } from './netlink/tc.js';
import type { Program } from './program.js';
import { requireFeature } from './probes/index.js';
import { bpfFd } from './syscall.js';
import type { AttachTypeName } from './uapi.js';

const TCX_ATTACH_TYPE = { ingress: 'tcx_ingress', egress: 'tcx_egress' } as const satisfies Record<TcDirection, AttachTypeName>;

/**
 * Attach a sched_cls program to `iface` (a name, resolved in this process's
 * network namespace, or an index) through a tcx link, after the programs
 * already there. Throws a FeatureError on kernels without tcx.
 */
export function attachTcx(program: Program, iface: string | number, direction: TcDirection): Link {
  requireFeature('link:tcx');
  const index = typeof iface === 'number' ? iface : interfaceIndex(iface);
  const where = `tcx ${direction} of ${typeof iface === 'number' ? `interface ${iface}` : `${iface} (index ${index})`}`;
  const attachType = TCX_ATTACH_TYPE[direction];
  const owned = bpfFd(linkCreateAttr({ progFd: program.fd, target: index, attachType }), `${where} link of ${program.name}`, {
    EINVAL: `program ${program.name} cannot be attached to the ${where}: tcx takes sched_cls programs`,
    EEXIST: `program ${program.name} is already attached to the ${where}`,
    ENODEV: `no network interface has index ${index}`,
  });
  return new Link(owned, attachType);
}
