/**
 * bpf_link probes. Creating a real link would attach a program somewhere,
 * so each probe asks for a link the kernel must refuse, and tells the
 * refusal of a kernel that knows the link type (it got as far as looking at
 * the target) from that of one that does not (EINVAL, its answer for an
 * unknown command or attach type):
 *
 *   - bpf_link (5.7): a cgroup link to a descriptor that is not open → EBADF.
 *   - XDP (5.9): a link on the loopback device in hardware-offload mode.
 *     The kernel checks everything up to the driver, which has no offload
 *     and answers EOPNOTSUPP; nothing is attached, and no network namespace
 *     or device needs creating. (A missing interface is no use here: the
 *     XDP code answers that with EINVAL too.)
 *   - tcx (6.6) and netkit (6.7): a link on an interface index that does
 *     not exist → ENODEV. A kernel built without netkit answers EINVAL.
 *
 * Should a link be created after all, it is closed at once, which detaches it.
 */
import { alu } from '../../asm/alu.js';
import { exit } from '../../asm/func.js';
import { linkCreateAttr } from '../attr.js';
import { interfaceIndex } from '../link.js';
import { native } from '../native.js';
import { XdpMode, type AttachTypeName, type KernelProgramTypeName } from '../uapi.js';
import { INVALID_FD } from './attr.js';
import { attempt, ATTR_TOO_NEW, inconclusive, NOT_PERMITTED, type Refusal } from './kernel.js';
import { openProgram, probeProgramType } from './program-types.js';
import { available, cachedProbe, unavailable, type FeatureStatus } from './status.js';

interface LinkProbe {
  readonly description: string;
  readonly since: string;
  readonly programType: KernelProgramTypeName;
  /** What the program returns: a verdict its type accepts. */
  readonly returns: number;
  /** Every attach type must be accepted. */
  readonly attachTypes: readonly AttachTypeName[];
  readonly target: () => number;
  readonly flags?: number;
  /** The refusal that shows the kernel knows this kind of link. */
  readonly knownBy: string;
  /** Why EINVAL, for the answer "no". */
  readonly unknownMeans: string;
}

const LINK_PROBES = {
  bpf_link: {
    description: 'bpf_link (BPF_LINK_CREATE)',
    since: '5.7',
    programType: 'cgroup_skb',
    returns: 1,
    attachTypes: ['cgroup_inet_ingress'],
    target: () => INVALID_FD,
    knownBy: 'EBADF',
    unknownMeans: 'the kernel does not know BPF_LINK_CREATE (EINVAL): it predates Linux 5.7',
  },
  xdp: {
    description: 'XDP links',
    since: '5.9',
    programType: 'xdp',
    returns: 2, // XDP_PASS
    attachTypes: ['xdp'],
    target: () => interfaceIndex('lo'),
    flags: XdpMode.hardware,
    knownBy: 'EOPNOTSUPP',
    unknownMeans: 'the kernel refused an XDP link (EINVAL): it predates Linux 5.9',
  },
  tcx: {
    description: 'tcx links (tc ingress and egress without qdiscs)',
    since: '6.6',
    programType: 'sched_cls',
    returns: 0,
    attachTypes: ['tcx_ingress', 'tcx_egress'],
    target: () => INVALID_FD,
    knownBy: 'ENODEV',
    unknownMeans: 'the kernel does not know the tcx attach types (EINVAL): it predates Linux 6.6',
  },
  netkit: {
    description: 'netkit links (programs of netkit devices)',
    since: '6.7',
    programType: 'sched_cls',
    returns: 0,
    attachTypes: ['netkit_primary', 'netkit_peer'],
    target: () => INVALID_FD,
    knownBy: 'ENODEV',
    unknownMeans: 'the kernel refused netkit links (EINVAL): it predates Linux 6.7 or was built without CONFIG_NETKIT',
  },
} as const satisfies Record<string, LinkProbe>;
export type LinkFeature = keyof typeof LINK_PROBES;
export const LINK_FEATURES = Object.keys(LINK_PROBES) as LinkFeature[];

export function linkFeature(feature: LinkFeature): string {
  return `link:${feature}`;
}

/** Ask for each link of the probe: the first refusal, or undefined when all were accepted (and closed). */
function askForLinks(probe: LinkProbe, progFd: number): Refusal | undefined {
  for (const attachType of probe.attachTypes) {
    const answer = attempt('LINK_CREATE', linkCreateAttr({ progFd, target: probe.target(), attachType, flags: probe.flags }).attr);
    if (typeof answer === 'number') native().close(answer);
    else if (answer.code !== probe.knownBy) return answer;
  }
  return undefined;
}

/** Whether the kernel can create this kind of link. */
export function probeLink(feature: LinkFeature): FeatureStatus {
  const name = linkFeature(feature);
  return cachedProbe(name, () => {
    const probe: LinkProbe = LINK_PROBES[feature];
    const no = (reason: string) => unavailable(name, probe.description, probe.since, reason);
    const programs = probeProgramType(probe.programType);
    if (!programs.supported) return no(`${probe.programType} programs are not available: ${programs.reason}`);
    const program = openProgram(probe.programType, [alu('MOV', true, 0, { imm: probe.returns }), exit()]);
    if (typeof program !== 'number') throw inconclusive('PROG_LOAD', `${probe.description} (loading a ${probe.programType} program)`, program.refusal);
    let refusal: Refusal | undefined;
    try {
      refusal = askForLinks(probe, program);
    } finally {
      native().close(program);
    }
    if (!refusal) return available(name, probe.description, probe.since);
    switch (refusal.code) {
      case 'EINVAL':
        return no(probe.unknownMeans);
      case 'E2BIG':
        return no(ATTR_TOO_NEW);
      case 'EPERM':
        return no(NOT_PERMITTED);
      default:
        throw inconclusive('LINK_CREATE', probe.description, refusal);
    }
  });
}
