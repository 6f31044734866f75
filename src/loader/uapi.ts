/**
 * Enumerations of the kernel's bpf() UAPI (include/uapi/linux/bpf.h) as
 * data: each value with the Linux release that introduced it, so that an
 * error on an older kernel can name what is missing and since when.
 */
import type { MapType, ProgramType } from '../asm/program.js';

export interface KernelValue {
  readonly value: number;
  /** First Linux release that accepts the value, e.g. `5.8`. */
  readonly since: string;
}

/** `enum bpf_cmd`: only the commands bpfgen issues. */
export const BpfCommand = {
  MAP_CREATE: { value: 0, since: '3.18' },
  MAP_LOOKUP_ELEM: { value: 1, since: '3.18' },
  MAP_UPDATE_ELEM: { value: 2, since: '3.18' },
  MAP_DELETE_ELEM: { value: 3, since: '3.18' },
  MAP_GET_NEXT_KEY: { value: 4, since: '3.18' },
  PROG_LOAD: { value: 5, since: '3.18' },
  OBJ_PIN: { value: 6, since: '4.4' },
  OBJ_GET: { value: 7, since: '4.4' },
  PROG_TEST_RUN: { value: 10, since: '4.12' },
  PROG_GET_NEXT_ID: { value: 11, since: '4.13' },
  MAP_GET_NEXT_ID: { value: 12, since: '4.13' },
  PROG_GET_FD_BY_ID: { value: 13, since: '4.13' },
  MAP_GET_FD_BY_ID: { value: 14, since: '4.13' },
  OBJ_GET_INFO_BY_FD: { value: 15, since: '4.13' },
  LINK_CREATE: { value: 28, since: '5.7' },
  LINK_UPDATE: { value: 29, since: '5.7' },
  LINK_DETACH: { value: 34, since: '5.9' },
} as const satisfies Record<string, KernelValue>;
export type BpfCommandName = keyof typeof BpfCommand;

/** `enum bpf_map_type`, keyed by the names `MapDefinition.type` uses. */
export const MapTypeValue = {
  hash: { value: 1, since: '3.19' },
  array: { value: 2, since: '3.19' },
  prog_array: { value: 3, since: '4.2' },
  percpu_hash: { value: 5, since: '4.6' },
  percpu_array: { value: 6, since: '4.6' },
  lru_hash: { value: 9, since: '4.10' },
  lru_percpu_hash: { value: 10, since: '4.10' },
  ringbuf: { value: 27, since: '5.8' },
} as const satisfies Record<MapType, KernelValue>;

/** `enum bpf_prog_type`, keyed by the names `AssembledProgram.type` uses. */
export const ProgramTypeValue = {
  socket_filter: { value: 1, since: '3.19' },
  kprobe: { value: 2, since: '4.1' },
  sched_cls: { value: 3, since: '4.1' },
  sched_act: { value: 4, since: '4.1' },
  tracepoint: { value: 5, since: '4.7' },
  xdp: { value: 6, since: '4.8' },
  cgroup_skb: { value: 8, since: '4.10' },
} as const satisfies Record<ProgramType, KernelValue>;

/** `enum bpf_attach_type`: the attach points of the program types above. */
export const AttachType = {
  cgroup_inet_ingress: { value: 0, since: '4.10' },
  cgroup_inet_egress: { value: 1, since: '4.10' },
  xdp: { value: 37, since: '5.9' },
  perf_event: { value: 41, since: '5.15' },
  trace_kprobe_multi: { value: 42, since: '5.18' },
  tcx_ingress: { value: 46, since: '6.6' },
  tcx_egress: { value: 47, since: '6.6' },
} as const satisfies Record<string, KernelValue>;
export type AttachTypeName = keyof typeof AttachType;

/** Flags of BPF_MAP_UPDATE_ELEM. */
export const UpdateFlag = {
  any: 0,
  noexist: 1,
  exist: 2,
} as const;
export type UpdateMode = keyof typeof UpdateFlag;

/** BPF_F_REPLACE: LINK_UPDATE only if the link still runs `old_prog_fd`. */
export const F_REPLACE = 1 << 2;

/** Length of the NUL-terminated names of programs and maps (BPF_OBJ_NAME_LEN). */
export const OBJ_NAME_LEN = 16;

/** Size of a program tag, the truncated SHA-1 of its instructions (BPF_TAG_SIZE). */
export const TAG_SIZE = 8;

/** Major, minor and patch of a release string such as `6.18.44-fc-v595`. */
export function parseKernelRelease(release: string): [number, number, number] {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!match) return [0, 0, 0];
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

/** Whether `release` is `since` or newer; only major and minor count. */
export function kernelAtLeast(release: string, since: string): boolean {
  const [major, minor] = parseKernelRelease(release);
  const [needMajor, needMinor] = parseKernelRelease(since);
  return major !== needMajor ? major > needMajor : minor >= needMinor;
}

/** XDP attachment modes (XDP_FLAGS_* in linux/if_link.h), for LINK_CREATE flags. */
export const XdpMode = {
  /** Generic XDP, run by the network stack on any device. */
  skb: 1 << 1,
  /** Native XDP, run by the driver. */
  driver: 1 << 2,
  /** Offloaded to the NIC. */
  hardware: 1 << 3,
} as const;
export type XdpModeName = keyof typeof XdpMode;
