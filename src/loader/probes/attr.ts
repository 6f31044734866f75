/**
 * The bpf_attr members that feature probes fill: BPF_PROG_LOAD and
 * BPF_MAP_CREATE with any numeric type (the loader's encoders take only the
 * types bpfgen builds) and the fields some types insist on (inner map,
 * BTF ids, program flags). Each buffer ends after the last field a probe
 * sets, so the oldest kernel that has those fields accepts it.
 */
import { cString, StructBuffer, type StructLayout } from '../attr.js';

const u32 = (offset: number) => ({ offset, kind: 'u32' as const });
const pointer = (offset: number) => ({ offset, kind: 'pointer' as const });

const PROBE_PROG_LOAD = {
  name: 'bpf_attr(PROG_LOAD)',
  size: 72,
  fields: {
    prog_type: u32(0),
    insn_cnt: u32(4),
    insns: pointer(8),
    license: pointer(16),
    log_level: u32(24),
    log_size: u32(28),
    log_buf: pointer(32),
    kern_version: u32(40),
    prog_flags: u32(44),
    expected_attach_type: u32(68),
  },
} as const satisfies StructLayout<string>;

export interface ProbeLoadParams {
  readonly progType: number;
  /** Encoded instructions, 8 bytes per slot. */
  readonly insns: Uint8Array;
  readonly expectedAttachType?: number;
  readonly progFlags?: number;
  readonly kernVersion?: number;
  /** Receives the verifier log at level 1; empty for no log. */
  readonly log: Uint8Array;
}

export function probeLoadAttr(params: ProbeLoadParams): StructBuffer<keyof typeof PROBE_PROG_LOAD.fields> {
  return new StructBuffer(PROBE_PROG_LOAD)
    .u32('prog_type', params.progType)
    .u32('insn_cnt', params.insns.byteLength / 8)
    .pointer('insns', params.insns)
    // GPL, so that GPL-only helpers count as available.
    .pointer('license', cString('GPL'))
    .u32('log_level', params.log.byteLength > 0 ? 1 : 0)
    .u32('log_size', params.log.byteLength)
    .pointer('log_buf', params.log)
    .u32('kern_version', params.kernVersion ?? 0)
    .u32('prog_flags', params.progFlags ?? 0)
    .u32('expected_attach_type', params.expectedAttachType ?? 0);
}

const PROBE_MAP_CREATE = {
  name: 'bpf_attr(MAP_CREATE)',
  size: 64,
  fields: {
    map_type: u32(0),
    key_size: u32(4),
    value_size: u32(8),
    max_entries: u32(12),
    map_flags: u32(16),
    inner_map_fd: u32(20),
    btf_fd: u32(48),
    btf_key_type_id: u32(52),
    btf_value_type_id: u32(56),
    btf_vmlinux_value_type_id: u32(60),
  },
} as const satisfies StructLayout<string>;

export interface ProbeMapParams {
  readonly mapType: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  readonly innerMapFd?: number;
  readonly btfFd?: number;
  readonly btfKeyTypeId?: number;
  readonly btfValueTypeId?: number;
  readonly btfVmlinuxValueTypeId?: number;
}

export function probeMapAttr(params: ProbeMapParams): StructBuffer<keyof typeof PROBE_MAP_CREATE.fields> {
  return new StructBuffer(PROBE_MAP_CREATE)
    .u32('map_type', params.mapType)
    .u32('key_size', params.keySize)
    .u32('value_size', params.valueSize)
    .u32('max_entries', params.maxEntries)
    .u32('map_flags', params.flags ?? 0)
    .u32('inner_map_fd', params.innerMapFd ?? 0)
    .u32('btf_fd', params.btfFd ?? 0)
    .u32('btf_key_type_id', params.btfKeyTypeId ?? 0)
    .u32('btf_value_type_id', params.btfValueTypeId ?? 0)
    .u32('btf_vmlinux_value_type_id', params.btfVmlinuxValueTypeId ?? 0);
}

/** A file descriptor number that no process has open: bpf() answers EBADF once it looks it up. */
export const INVALID_FD = 0xffffffff;
