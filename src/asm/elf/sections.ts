/**
 * Section names that tell libbpf and iproute2 a program's type (libbpf's
 * SEC() table): `xdp`, `tc`, `socket`, ... A name may carry a suffix after
 * a slash (`xdp/count`), which is how one object holds several programs
 * of one type under distinct section names.
 */
import type { ProgramType } from '../program.js';

/** The section bpfgen writes each program type to. */
export const SECTION_BY_TYPE: Readonly<Record<ProgramType, string>> = {
  xdp: 'xdp',
  sched_cls: 'tc',
  sched_act: 'action',
  socket_filter: 'socket',
  kprobe: 'kprobe',
  tracepoint: 'tracepoint',
  cgroup_skb: 'cgroup/skb',
};

/**
 * Section names (and `name/...` prefixes) libbpf maps to each type bpfgen
 * knows. Names that also change how libbpf loads the program (`xdp.frags`
 * sets a flag, `tcx/ingress` an attach type) are left out, so that such a
 * program is refused rather than loaded differently.
 */
const TYPE_BY_PREFIX: readonly (readonly [string, ProgramType])[] = [
  ['xdp', 'xdp'],
  ['tc', 'sched_cls'],
  ['classifier', 'sched_cls'],
  ['action', 'sched_act'],
  ['socket', 'socket_filter'],
  ['kprobe', 'kprobe'],
  ['kretprobe', 'kprobe'],
  ['tracepoint', 'tracepoint'],
  ['tp', 'tracepoint'],
  ['cgroup/skb', 'cgroup_skb'],
  ['cgroup_skb', 'cgroup_skb'],
];

/** The program type a section name stands for, or undefined when it names none bpfgen knows. */
export function programTypeOfSection(section: string): ProgramType | undefined {
  return TYPE_BY_PREFIX.find(([prefix]) => section === prefix || section.startsWith(`${prefix}/`))?.[1];
}

/** Known section names, for messages. */
export const KNOWN_SECTION_PREFIXES: readonly string[] = TYPE_BY_PREFIX.map(([prefix]) => prefix);
