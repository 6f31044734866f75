/**
 * The return values each program type may give, read from the kernel's
 * UAPI headers (linux-libc-dev) rather than from bpfgen's own tables:
 * enum xdp_action in linux/bpf.h and the TC_ACT_* verdicts in
 * linux/pkt_cls.h. A socket filter returns how many bytes of the packet to
 * keep, so its legal values depend on the packet.
 */
import { readFileSync } from 'node:fs';

const INCLUDE = '/usr/include/linux';

/** The values of enum xdp_action, XDP_ABORTED (0) up to the last one. */
function xdpActions(): Set<number> {
  const body = /enum xdp_action \{([^}]*)\}/.exec(readFileSync(`${INCLUDE}/bpf.h`, 'utf8'))?.[1];
  if (!body) throw new Error(`no enum xdp_action in ${INCLUDE}/bpf.h`);
  const names = body.split(',').map((entry) => entry.trim()).filter((entry) => entry.startsWith('XDP_'));
  // The enum's members are consecutive from XDP_ABORTED = 0.
  return new Set(names.map((_, i) => i));
}

/** TC_ACT_UNSPEC (-1) through TC_ACT_VALUE_MAX, as unsigned 32-bit values. */
function tcActions(): Set<number> {
  const header = readFileSync(`${INCLUDE}/pkt_cls.h`, 'utf8');
  const define = (name: string): string => {
    const value = new RegExp(`#define ${name}\\s+(\\S+)`).exec(header)?.[1];
    if (value === undefined) throw new Error(`no ${name} in ${INCLUDE}/pkt_cls.h`);
    return value;
  };
  const number = (name: string): number => {
    const value = define(name);
    return /^\(?-?\d+\)?$/.test(value) ? Number(value.replace(/[()]/g, '')) : number(value);
  };
  const actions = new Set<number>();
  for (let value = number('TC_ACT_UNSPEC'); value <= number('TC_ACT_VALUE_MAX'); value++) actions.add(value >>> 0);
  return actions;
}

export type PacketProgramType = 'xdp' | 'sched_cls' | 'socket_filter';

const FIXED_ACTIONS = { xdp: xdpActions(), sched_cls: tcActions() } as const;

/** Whether `retval` is a verdict the program type may return for a frame of `frameBytes` bytes. */
export function isLegalAction(type: PacketProgramType, retval: number, frameBytes: number): boolean {
  if (type === 'socket_filter') return retval === 0 || retval === frameBytes - 14;
  return FIXED_ACTIONS[type].has(retval);
}

/** The legal verdicts of a fixed-verdict program type, for the test to show. */
export function legalActions(type: Exclude<PacketProgramType, 'socket_filter'>): readonly number[] {
  return [...FIXED_ACTIONS[type]];
}
