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
  BTF_LOAD: { value: 18, since: '4.18' },
  LINK_CREATE: { value: 28, since: '5.7' },
  LINK_UPDATE: { value: 29, since: '5.7' },
  LINK_DETACH: { value: 34, since: '5.9' },
} as const satisfies Record<string, KernelValue>;
export type BpfCommandName = keyof typeof BpfCommand;

/**
 * Every `enum bpf_prog_type` value (except UNSPEC), for probing the
 * kernel; ProgramTypeValue below is the subset that bpfgen builds.
 */
export const KernelProgramType = {
  socket_filter: { value: 1, since: '3.19' },
  kprobe: { value: 2, since: '4.1' },
  sched_cls: { value: 3, since: '4.1' },
  sched_act: { value: 4, since: '4.1' },
  tracepoint: { value: 5, since: '4.7' },
  xdp: { value: 6, since: '4.8' },
  perf_event: { value: 7, since: '4.9' },
  cgroup_skb: { value: 8, since: '4.10' },
  cgroup_sock: { value: 9, since: '4.10' },
  lwt_in: { value: 10, since: '4.10' },
  lwt_out: { value: 11, since: '4.10' },
  lwt_xmit: { value: 12, since: '4.10' },
  sock_ops: { value: 13, since: '4.13' },
  sk_skb: { value: 14, since: '4.14' },
  cgroup_device: { value: 15, since: '4.15' },
  sk_msg: { value: 16, since: '4.17' },
  raw_tracepoint: { value: 17, since: '4.17' },
  cgroup_sock_addr: { value: 18, since: '4.17' },
  lwt_seg6local: { value: 19, since: '4.18' },
  lirc_mode2: { value: 20, since: '4.18' },
  sk_reuseport: { value: 21, since: '4.19' },
  flow_dissector: { value: 22, since: '4.20' },
  cgroup_sysctl: { value: 23, since: '5.2' },
  raw_tracepoint_writable: { value: 24, since: '5.2' },
  cgroup_sockopt: { value: 25, since: '5.3' },
  tracing: { value: 26, since: '5.5' },
  struct_ops: { value: 27, since: '5.6' },
  ext: { value: 28, since: '5.6' },
  lsm: { value: 29, since: '5.7' },
  sk_lookup: { value: 30, since: '5.9' },
  syscall: { value: 31, since: '5.14' },
  netfilter: { value: 32, since: '6.4' },
} as const satisfies Record<string, KernelValue>;
export type KernelProgramTypeName = keyof typeof KernelProgramType;

/**
 * Every `enum bpf_map_type` value (except UNSPEC), for probing the kernel;
 * MapTypeValue below is the subset that bpfgen creates.
 */
export const KernelMapType = {
  hash: { value: 1, since: '3.19' },
  array: { value: 2, since: '3.19' },
  prog_array: { value: 3, since: '4.2' },
  perf_event_array: { value: 4, since: '4.3' },
  percpu_hash: { value: 5, since: '4.6' },
  percpu_array: { value: 6, since: '4.6' },
  stack_trace: { value: 7, since: '4.6' },
  cgroup_array: { value: 8, since: '4.8' },
  lru_hash: { value: 9, since: '4.10' },
  lru_percpu_hash: { value: 10, since: '4.10' },
  lpm_trie: { value: 11, since: '4.11' },
  array_of_maps: { value: 12, since: '4.12' },
  hash_of_maps: { value: 13, since: '4.12' },
  devmap: { value: 14, since: '4.14' },
  sockmap: { value: 15, since: '4.14' },
  cpumap: { value: 16, since: '4.15' },
  xskmap: { value: 17, since: '4.18' },
  sockhash: { value: 18, since: '4.18' },
  cgroup_storage: { value: 19, since: '4.19' },
  reuseport_sockarray: { value: 20, since: '4.19' },
  percpu_cgroup_storage: { value: 21, since: '4.20' },
  queue: { value: 22, since: '4.20' },
  stack: { value: 23, since: '4.20' },
  sk_storage: { value: 24, since: '5.2' },
  devmap_hash: { value: 25, since: '5.4' },
  struct_ops: { value: 26, since: '5.6' },
  ringbuf: { value: 27, since: '5.8' },
  inode_storage: { value: 28, since: '5.10' },
  task_storage: { value: 29, since: '5.11' },
  bloom_filter: { value: 30, since: '5.16' },
  user_ringbuf: { value: 31, since: '6.1' },
  cgrp_storage: { value: 32, since: '6.2' },
  arena: { value: 33, since: '6.9' },
} as const satisfies Record<string, KernelValue>;
export type KernelMapTypeName = keyof typeof KernelMapType;

function subset<T extends Record<string, KernelValue>, K extends keyof T & string>(table: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((key) => [key, table[key]])) as Pick<T, K>;
}

/** The map types bpfgen creates, keyed by the names `MapDefinition.type` uses. */
export const MapTypeValue = subset(KernelMapType, [
  'hash', 'array', 'prog_array', 'percpu_hash', 'percpu_array', 'lru_hash', 'lru_percpu_hash', 'ringbuf',
] as const) satisfies Record<MapType, KernelValue>;

/** The program types bpfgen builds, keyed by the names `AssembledProgram.type` uses. */
export const ProgramTypeValue = subset(KernelProgramType, [
  'socket_filter', 'kprobe', 'sched_cls', 'sched_act', 'tracepoint', 'xdp', 'cgroup_skb',
] as const) satisfies Record<ProgramType, KernelValue>;

/** `enum bpf_attach_type`: the attach points of the program types above. */
export const AttachType = {
  cgroup_inet_ingress: { value: 0, since: '4.10' },
  cgroup_inet_egress: { value: 1, since: '4.10' },
  xdp: { value: 37, since: '5.9' },
  perf_event: { value: 41, since: '5.15' },
  trace_kprobe_multi: { value: 42, since: '5.18' },
  tcx_ingress: { value: 46, since: '6.6' },
  tcx_egress: { value: 47, since: '6.6' },
  // Expected attach types that some program types must be loaded with (feature probes).
  cgroup_inet4_connect: { value: 10, since: '4.17' },
  lirc_mode2: { value: 16, since: '4.18' },
  cgroup_getsockopt: { value: 21, since: '5.3' },
  sk_lookup: { value: 36, since: '5.9' },
  netfilter: { value: 45, since: '6.4' },
  netkit_primary: { value: 54, since: '6.7' },
  netkit_peer: { value: 55, since: '6.7' },
} as const satisfies Record<string, KernelValue>;
export type AttachTypeName = keyof typeof AttachType;

/** Flags of BPF_MAP_UPDATE_ELEM. */
export const UpdateFlag = {
  any: 0,
  noexist: 1,
  exist: 2,
} as const;
export type UpdateMode = keyof typeof UpdateFlag;

/** Flags of BPF_MAP_CREATE (map_flags). */
export const MapFlag = {
  /** BPF_F_NO_PREALLOC: allocate elements on demand (4.6). */
  no_prealloc: 1 << 0,
  /** BPF_F_MMAPABLE: the map can be mmap()ed (5.5). */
  mmapable: 1 << 10,
} as const;

/** BPF_F_SLEEPABLE (prog_flags of BPF_PROG_LOAD): the program may sleep (5.10). */
export const F_SLEEPABLE = 1 << 4;

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
