/**
 * What the kernel reports about loaded programs and maps
 * (BPF_OBJ_GET_INFO_BY_FD), and enumeration by id.
 */
import { readFileSync } from 'node:fs';
import type { MapType, ProgramType } from '../asm/program.js';
import {
  mapGetFdByIdAttr,
  NATIVE_LITTLE_ENDIAN,
  mapGetNextIdAttr,
  objGetInfoByFdAttr,
  progGetFdByIdAttr,
  progGetNextIdAttr,
  StructBuffer,
  type StructLayout,
} from './attr.js';
import { BpfError } from './errors.js';
import { bpfCall, bpfFd, type OwnedFd } from './syscall.js';
import { MapTypeValue, OBJ_NAME_LEN, ProgramTypeValue, TAG_SIZE } from './uapi.js';

// struct bpf_prog_info; fields past the end of an older kernel's struct read as zero.
const PROG_INFO = {
  name: 'bpf_prog_info',
  size: 232,
  fields: {
    type: { offset: 0, kind: 'u32' },
    id: { offset: 4, kind: 'u32' },
    tag: { offset: 8, kind: 'bytes', length: TAG_SIZE },
    jited_prog_len: { offset: 16, kind: 'u32' },
    xlated_prog_len: { offset: 20, kind: 'u32' },
    xlated_prog_insns: { offset: 32, kind: 'pointer' },
    load_time: { offset: 40, kind: 'u64' },
    created_by_uid: { offset: 48, kind: 'u32' },
    nr_map_ids: { offset: 52, kind: 'u32' },
    map_ids: { offset: 56, kind: 'pointer' },
    name: { offset: 64, kind: 'bytes', length: OBJ_NAME_LEN },
    run_time_ns: { offset: 192, kind: 'u64' },
    run_cnt: { offset: 200, kind: 'u64' },
    verified_insns: { offset: 216, kind: 'u32' },
  },
} as const satisfies StructLayout<string>;

// struct bpf_map_info.
const MAP_INFO = {
  name: 'bpf_map_info',
  size: 88,
  fields: {
    type: { offset: 0, kind: 'u32' },
    id: { offset: 4, kind: 'u32' },
    key_size: { offset: 8, kind: 'u32' },
    value_size: { offset: 12, kind: 'u32' },
    max_entries: { offset: 16, kind: 'u32' },
    map_flags: { offset: 20, kind: 'u32' },
    name: { offset: 24, kind: 'bytes', length: OBJ_NAME_LEN },
  },
} as const satisfies StructLayout<string>;

export interface ProgramInfo {
  /** `enum bpf_prog_type` value, and its bpfgen name when bpfgen knows it. */
  readonly type: number;
  readonly typeName: ProgramType | undefined;
  readonly id: number;
  /** 16 hex digits: the kernel's hash of the instructions before map fds are resolved. */
  readonly tag: string;
  readonly name: string;
  /** Bytes of machine code; 0 when the program is interpreted. */
  readonly jitedLength: number;
  /** Bytes of kernel-translated eBPF. */
  readonly xlatedLength: number;
  /** Nanoseconds since boot. */
  readonly loadTime: bigint;
  readonly createdByUid: number;
  readonly mapIds: readonly number[];
  /** Run statistics, counted only while `sysctl kernel.bpf_stats_enabled` is 1. */
  readonly runTimeNs: bigint;
  readonly runCount: bigint;
  readonly verifiedInsns: number;
}

export interface MapInfo {
  readonly type: number;
  readonly typeName: MapType | undefined;
  readonly id: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}

function reverse<T extends string>(table: Record<T, { value: number }>): Map<number, T> {
  return new Map(Object.entries<{ value: number }>(table).map(([name, entry]) => [entry.value, name as T]));
}
const programTypeByValue = reverse<ProgramType>(ProgramTypeValue);
const mapTypeByValue = reverse<MapType>(MapTypeValue);

function cName(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

function readProgInfo(fd: number, prepare?: (info: StructBuffer<keyof typeof PROG_INFO.fields>) => void) {
  const info = new StructBuffer(PROG_INFO);
  prepare?.(info);
  bpfCall(objGetInfoByFdAttr(fd, info), { EINVAL: 'the descriptor is not a bpf program', EBADF: `file descriptor ${fd} is not open` });
  return info;
}

export function programInfo(fd: number): ProgramInfo {
  const counts = readProgInfo(fd);
  const mapCount = counts.readU32('nr_map_ids');
  const mapIdBytes = new Uint8Array(mapCount * 4);
  const info =
    mapCount === 0
      ? counts
      : readProgInfo(fd, (request) => request.u32('nr_map_ids', mapCount).pointer('map_ids', mapIdBytes));
  const idView = new DataView(mapIdBytes.buffer);
  const type = info.readU32('type');
  return {
    type,
    typeName: programTypeByValue.get(type),
    id: info.readU32('id'),
    tag: hex(info.readBytes('tag')),
    name: cName(info.readBytes('name')),
    jitedLength: info.readU32('jited_prog_len'),
    xlatedLength: info.readU32('xlated_prog_len'),
    loadTime: info.readU64('load_time'),
    createdByUid: info.readU32('created_by_uid'),
    mapIds: Array.from({ length: Math.min(mapCount, info.readU32('nr_map_ids')) }, (_, i) => idView.getUint32(i * 4, NATIVE_LITTLE_ENDIAN)),
    runTimeNs: info.readU64('run_time_ns'),
    runCount: info.readU64('run_cnt'),
    verifiedInsns: info.readU32('verified_insns'),
  };
}

/** The program as the kernel runs it after verification and rewriting, encoded like the input. */
export function xlatedInstructions(fd: number): Uint8Array {
  const length = readProgInfo(fd).readU32('xlated_prog_len');
  const bytes = new Uint8Array(length);
  const info = readProgInfo(fd, (request) => request.u32('xlated_prog_len', length).pointer('xlated_prog_insns', bytes));
  if (length > 0 && info.readU32('xlated_prog_len') === 0) {
    throw new Error(`the kernel withheld the translated instructions of program fd ${fd}: dumping them needs CAP_SYS_ADMIN, or CAP_SYSLOG with kernel.kptr_restrict below 2`);
  }
  return bytes;
}

export function mapInfo(fd: number): MapInfo {
  const info = new StructBuffer(MAP_INFO);
  bpfCall(objGetInfoByFdAttr(fd, info), { EINVAL: 'the descriptor is not a bpf map', EBADF: `file descriptor ${fd} is not open` });
  const type = info.readU32('type');
  return {
    type,
    typeName: mapTypeByValue.get(type),
    id: info.readU32('id'),
    name: cName(info.readBytes('name')),
    keySize: info.readU32('key_size'),
    valueSize: info.readU32('value_size'),
    maxEntries: info.readU32('max_entries'),
    flags: info.readU32('map_flags'),
  };
}

/** What a bpf descriptor refers to, from the kernel's /proc/self/fdinfo entry for it. */
export function bpfObjectKind(fd: number): 'program' | 'map' | 'link' | 'other' {
  const fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  if (/^prog_type:/m.test(fdinfo)) return 'program';
  if (/^map_type:/m.test(fdinfo)) return 'map';
  if (/^link_type:/m.test(fdinfo)) return 'link';
  return 'other';
}

function* walkIds(next: (start: number) => ReturnType<typeof progGetNextIdAttr>): Generator<number> {
  let id = 0;
  for (;;) {
    const request = next(id);
    try {
      bpfCall(request);
    } catch (error) {
      if (error instanceof BpfError && error.code === 'ENOENT') return;
      throw error;
    }
    id = request.attr.readU32('next_id');
    yield id;
  }
}

/** Ids of every program loaded in the system, ascending. */
export function programIds(): Generator<number> {
  return walkIds(progGetNextIdAttr);
}

/** Ids of every map in the system, ascending. */
export function mapIds(): Generator<number> {
  return walkIds(mapGetNextIdAttr);
}

export function openProgramById(id: number): OwnedFd {
  return bpfFd(progGetFdByIdAttr(id), `program #${id}`, { ENOENT: `no program has id ${id} (it was unloaded, or never existed)` });
}

export function openMapById(id: number): OwnedFd {
  return bpfFd(mapGetFdByIdAttr(id), `map #${id}`, { ENOENT: `no map has id ${id} (it was freed, or never existed)` });
}
