/**
 * Feature probes fill BPF_PROG_LOAD and BPF_MAP_CREATE with any numeric
 * type (the loader's encoders take only the types bpfgen builds) and the
 * fields some types insist on (inner map, BTF ids, program flags), using the
 * loader's layouts. Fields a probe leaves unset stay zero, which older
 * kernels accept in the tail they do not know.
 */
import { cString, MAP_CREATE, PROG_LOAD, StructBuffer } from '../attr.js';

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

export function probeLoadAttr(params: ProbeLoadParams): StructBuffer<keyof typeof PROG_LOAD.fields> {
  return new StructBuffer(PROG_LOAD)
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

export function probeMapAttr(params: ProbeMapParams): StructBuffer<keyof typeof MAP_CREATE.fields> {
  return new StructBuffer(MAP_CREATE)
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
