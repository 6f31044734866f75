/** What a packet program's return value means, by program type. */
import type { ProgramType } from '../../asm/program.js';

/** enum xdp_action (include/uapi/linux/bpf.h). */
const XDP_ACTIONS = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'];

/** TC_ACT_* (include/uapi/linux/pkt_cls.h), from TC_ACT_UNSPEC = -1. */
const TC_ACTIONS: ReadonlyMap<number, string> = new Map([
  [-1, 'TC_ACT_UNSPEC'],
  [0, 'TC_ACT_OK'],
  [1, 'TC_ACT_RECLASSIFY'],
  [2, 'TC_ACT_SHOT'],
  [3, 'TC_ACT_PIPE'],
  [4, 'TC_ACT_STOLEN'],
  [5, 'TC_ACT_QUEUED'],
  [6, 'TC_ACT_REPEAT'],
  [7, 'TC_ACT_REDIRECT'],
  [8, 'TC_ACT_TRAP'],
]);

export interface Verdict {
  /** The return value as the program type reads it (signed for tc). */
  readonly value: number;
  /** `XDP_PASS`, `TC_ACT_SHOT`, `keep 60 bytes`, ... */
  readonly name: string;
}

/** Name the return value `retval` (unsigned 32-bit, as the kernel reports it) of a program of `type` run on `packetLength` bytes. */
export function verdictOf(type: ProgramType, retval: number, packetLength: number): Verdict {
  switch (type) {
    case 'xdp':
      return { value: retval, name: XDP_ACTIONS[retval] ?? `not an XDP action (the kernel treats it as XDP_ABORTED)` };
    case 'sched_cls':
    case 'sched_act': {
      const value = retval | 0;
      return { value, name: TC_ACTIONS.get(value) ?? 'not a TC_ACT value (tc treats it as TC_ACT_UNSPEC)' };
    }
    case 'socket_filter':
      // The return value is how many bytes of the packet the socket keeps.
      if (retval === 0) return { value: retval, name: 'drop (keep 0 bytes)' };
      return { value: retval, name: retval >= packetLength ? `keep the whole packet (${packetLength} bytes)` : `keep ${retval} of ${packetLength} bytes` };
    case 'cgroup_skb':
      return { value: retval, name: (retval & 1) === 1 ? 'allow' : 'drop' };
    default:
      return { value: retval, name: `return value ${retval}` };
  }
}
