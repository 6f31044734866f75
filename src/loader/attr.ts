/**
 * Encoders of `union bpf_attr`, one per bpf() command. Offsets are those of
 * include/uapi/linux/bpf.h; each buffer is exactly as long as its command's
 * member of the union, because a kernel older than the header rejects any
 * nonzero byte past the end of the union it knows (E2BIG).
 */
import { endianness } from 'node:os';
import type { MapType, ProgramType } from '../asm/program.js';
import {
  AttachType,
  BpfCommand,
  F_REPLACE,
  MapTypeValue,
  OBJ_NAME_LEN,
  ProgramTypeValue,
  type AttachTypeName,
  type BpfCommandName,
} from './uapi.js';

/** The kernel reads and writes bpf() structures in the machine's byte order. */
export const NATIVE_LITTLE_ENDIAN = endianness() === 'LE';

type FieldKind = 'u32' | 'u64' | 'pointer' | 'bytes';

interface FieldSpec {
  readonly offset: number;
  readonly kind: FieldKind;
  /** Length of a `bytes` field. */
  readonly length?: number;
  /** Release that added the field; absent when it is as old as the struct. */
  readonly since?: string;
}

export interface StructLayout<F extends string> {
  /** The C name, for messages. */
  readonly name: string;
  readonly size: number;
  readonly fields: Readonly<Record<F, FieldSpec>>;
}

/** A pointer the native shim stores into `holder` at `offset`: the address of `pointee`'s bytes. */
export type PointerPatch = [holder: Uint8Array, offset: number, pointee: Uint8Array];

/** Something the kernel must know for a request to succeed. */
export interface Requirement {
  readonly feature: string;
  readonly since: string;
}

/** A C struct laid out in a byte buffer; fields are written and read by name. */
export class StructBuffer<F extends string> {
  readonly bytes: Uint8Array;
  readonly pointers: PointerPatch[] = [];
  /** Fields given a nonzero value that are newer than the struct. */
  readonly newerFieldsSet: Requirement[] = [];
  private readonly view: DataView;

  constructor(readonly layout: StructLayout<F>) {
    this.bytes = new Uint8Array(layout.size);
    this.view = new DataView(this.bytes.buffer);
  }

  private spec(field: F, kind: FieldKind): FieldSpec {
    const spec = this.layout.fields[field];
    if (spec.kind !== kind) throw new TypeError(`${this.layout.name}.${field} is a ${spec.kind} field, not ${kind}`);
    return spec;
  }

  private noteSet(field: F, nonzero: boolean): void {
    const since = this.layout.fields[field].since;
    if (nonzero && since) this.newerFieldsSet.push({ feature: `${this.layout.name}.${field}`, since });
  }

  u32(field: F, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`${this.layout.name}.${field}: ${value} is not an unsigned 32-bit integer`);
    }
    this.view.setUint32(this.spec(field, 'u32').offset, value, NATIVE_LITTLE_ENDIAN);
    this.noteSet(field, value !== 0);
    return this;
  }

  u64(field: F, value: bigint): this {
    this.view.setBigUint64(this.spec(field, 'u64').offset, BigInt.asUintN(64, value), NATIVE_LITTLE_ENDIAN);
    this.noteSet(field, value !== 0n);
    return this;
  }

  /** Point the field at `target`; an empty target stays a NULL pointer. */
  pointer(field: F, target: Uint8Array): this {
    const spec = this.spec(field, 'pointer');
    if (target.byteLength > 0) this.pointers.push([this.bytes, spec.offset, target]);
    this.noteSet(field, target.byteLength > 0);
    return this;
  }

  /** Copy `value` into a fixed-length byte field, zero-padded. */
  bytesField(field: F, value: Uint8Array): this {
    const spec = this.spec(field, 'bytes');
    if (value.byteLength > spec.length!) throw new RangeError(`${this.layout.name}.${field}: ${value.byteLength} bytes do not fit in ${spec.length}`);
    this.bytes.set(value, spec.offset);
    this.noteSet(field, value.byteLength > 0);
    return this;
  }

  readU32(field: F): number {
    return this.view.getUint32(this.spec(field, 'u32').offset, NATIVE_LITTLE_ENDIAN);
  }

  readU64(field: F): bigint {
    return this.view.getBigUint64(this.spec(field, 'u64').offset, NATIVE_LITTLE_ENDIAN);
  }

  readBytes(field: F): Uint8Array {
    const spec = this.spec(field, 'bytes');
    return this.bytes.slice(spec.offset, spec.offset + spec.length!);
  }
}

/** One bpf() call, ready for the shim: command, attr and the pointers inside it. */
export interface BpfRequest<F extends string = string> {
  readonly command: BpfCommandName;
  readonly attr: StructBuffer<F>;
  /** Pointer patches of the attr and of any struct it points to. */
  readonly pointers: readonly PointerPatch[];
  /** What the running kernel must support: the command, the types named, every newer field set. */
  readonly requires: readonly Requirement[];
}

function request<F extends string>(
  command: BpfCommandName,
  attr: StructBuffer<F>,
  extra: { requires?: Requirement[]; nested?: StructBuffer<string>[] } = {},
): BpfRequest<F> {
  const nested = extra.nested ?? [];
  return {
    command,
    attr,
    pointers: [...attr.pointers, ...nested.flatMap((struct) => struct.pointers)],
    requires: [
      { feature: `the BPF_${command} command`, since: BpfCommand[command].since },
      ...(extra.requires ?? []),
      ...attr.newerFieldsSet,
      ...nested.flatMap((struct) => struct.newerFieldsSet),
    ],
  };
}

const u32 = (offset: number, since?: string): FieldSpec => ({ offset, kind: 'u32', since });
const u64 = (offset: number, since?: string): FieldSpec => ({ offset, kind: 'u64', since });
const pointer = (offset: number, since?: string): FieldSpec => ({ offset, kind: 'pointer', since });
const bytes = (offset: number, length: number, since?: string): FieldSpec => ({ offset, kind: 'bytes', length, since });

/** NUL-terminated UTF-8, as the kernel reads paths and licenses. */
export function cString(text: string): Uint8Array {
  const encoded = new TextEncoder().encode(text);
  if (encoded.includes(0)) throw new TypeError(`string ${JSON.stringify(text)} contains a NUL byte`);
  const out = new Uint8Array(encoded.byteLength + 1);
  out.set(encoded);
  return out;
}

/**
 * The kernel accepts object names of at most 15 characters from
 * [A-Za-z0-9_.]; anything else is replaced so that a descriptive name never
 * makes a load fail.
 */
export function objectName(name: string): Uint8Array {
  const cleaned = name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, OBJ_NAME_LEN - 1);
  return new TextEncoder().encode(cleaned);
}

// BPF_MAP_CREATE: ends with map_extra (u64 at 64).
export const MAP_CREATE = {
  name: 'bpf_attr(MAP_CREATE)',
  size: 72,
  fields: {
    map_type: u32(0),
    key_size: u32(4),
    value_size: u32(8),
    max_entries: u32(12),
    map_flags: u32(16),
    inner_map_fd: u32(20, '4.12'),
    map_name: bytes(28, OBJ_NAME_LEN, '4.15'),
    btf_fd: u32(48, '4.18'),
    btf_key_type_id: u32(52, '4.18'),
    btf_value_type_id: u32(56, '4.18'),
    btf_vmlinux_value_type_id: u32(60, '5.6'),
  },
} as const satisfies StructLayout<string>;

export interface MapCreateParams {
  readonly type: MapType;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags?: number;
  readonly name?: string;
}

export function mapCreateAttr(params: MapCreateParams) {
  const attr = new StructBuffer(MAP_CREATE)
    .u32('map_type', MapTypeValue[params.type].value)
    .u32('key_size', params.keySize)
    .u32('value_size', params.valueSize)
    .u32('max_entries', params.maxEntries)
    .u32('map_flags', params.flags ?? 0)
    .bytesField('map_name', objectName(params.name ?? ''));
  return request('MAP_CREATE', attr, { requires: [{ feature: `${params.type} maps`, since: MapTypeValue[params.type].since }] });
}

// BPF_MAP_*_ELEM and BPF_MAP_GET_NEXT_KEY: value and next_key share offset 16.
const MAP_ELEM = {
  name: 'bpf_attr(MAP_*_ELEM)',
  size: 32,
  fields: {
    map_fd: u32(0),
    key: pointer(8),
    value: pointer(16),
    flags: u64(24),
  },
} as const satisfies StructLayout<string>;

export function mapLookupElemAttr(mapFd: number, key: Uint8Array, valueOut: Uint8Array) {
  return request('MAP_LOOKUP_ELEM', new StructBuffer(MAP_ELEM).u32('map_fd', mapFd).pointer('key', key).pointer('value', valueOut));
}

export function mapUpdateElemAttr(mapFd: number, key: Uint8Array, value: Uint8Array, flags: number) {
  const attr = new StructBuffer(MAP_ELEM).u32('map_fd', mapFd).pointer('key', key).pointer('value', value).u64('flags', BigInt(flags));
  return request('MAP_UPDATE_ELEM', attr);
}

export function mapDeleteElemAttr(mapFd: number, key: Uint8Array) {
  return request('MAP_DELETE_ELEM', new StructBuffer(MAP_ELEM).u32('map_fd', mapFd).pointer('key', key));
}

/** `key` undefined asks for the first key (Linux 4.12). */
export function mapGetNextKeyAttr(mapFd: number, key: Uint8Array | undefined, nextKeyOut: Uint8Array) {
  const attr = new StructBuffer(MAP_ELEM).u32('map_fd', mapFd).pointer('value', nextKeyOut);
  if (key) attr.pointer('key', key);
  return request('MAP_GET_NEXT_KEY', attr, key ? {} : { requires: [{ feature: 'iterating a map from a NULL key', since: '4.12' }] });
}

// BPF_PROG_LOAD: ends with log_true_size (u32 at 140), padded to 144.
export const PROG_LOAD = {
  name: 'bpf_attr(PROG_LOAD)',
  size: 144,
  fields: {
    prog_type: u32(0),
    insn_cnt: u32(4),
    insns: pointer(8),
    license: pointer(16),
    log_level: u32(24),
    log_size: u32(28),
    log_buf: pointer(32),
    kern_version: u32(40),
    prog_flags: u32(44, '4.12'),
    prog_name: bytes(48, OBJ_NAME_LEN, '4.15'),
    expected_attach_type: u32(68, '4.17'),
    prog_btf_fd: u32(72, '5.0'),
    func_info_rec_size: u32(76, '5.0'),
    func_info: pointer(80, '5.0'),
    func_info_cnt: u32(88, '5.0'),
    line_info_rec_size: u32(92, '5.0'),
    line_info: pointer(96, '5.0'),
    line_info_cnt: u32(104, '5.0'),
    log_true_size: u32(140, '6.4'),
  },
} as const satisfies StructLayout<string>;

/** Size of struct bpf_func_info (insn_off, type_id) and struct bpf_line_info (insn_off, file_name_off, line_off, line_col). */
export const FUNC_INFO_SIZE = 8;
export const LINE_INFO_SIZE = 16;

/** BTF describing a program's functions and source lines: the loaded BTF and the records of PROG_LOAD. */
export interface ProgramBtfParams {
  readonly btfFd: number;
  /** struct bpf_func_info records, FUNC_INFO_SIZE bytes each. */
  readonly funcInfo: Uint8Array;
  /** struct bpf_line_info records, LINE_INFO_SIZE bytes each; may be empty. */
  readonly lineInfo: Uint8Array;
}

export interface ProgLoadParams {
  readonly type: ProgramType;
  /** Encoded instructions, 8 bytes per slot. */
  readonly insns: Uint8Array;
  readonly license: string;
  readonly name?: string;
  readonly expectedAttachType?: AttachTypeName;
  /** LINUX_VERSION_CODE; kprobe programs needed it before Linux 5.0. */
  readonly kernVersion?: number;
  readonly logLevel?: number;
  /** Receives the verifier log; its length is log_size. */
  readonly logBuffer?: Uint8Array;
  /** Function and line info, which the verifier needs for callbacks (ld_imm64 of a function). */
  readonly btf?: ProgramBtfParams;
}

export function progLoadAttr(params: ProgLoadParams) {
  const log = params.logBuffer ?? new Uint8Array(0);
  const attr = new StructBuffer(PROG_LOAD)
    .u32('prog_type', ProgramTypeValue[params.type].value)
    .u32('insn_cnt', params.insns.byteLength / 8)
    .pointer('insns', params.insns)
    .pointer('license', cString(params.license))
    .u32('log_level', params.logLevel ?? 0)
    .u32('log_size', log.byteLength)
    .pointer('log_buf', log)
    .u32('kern_version', params.kernVersion ?? 0)
    .bytesField('prog_name', objectName(params.name ?? ''));
  const requires: Requirement[] = [{ feature: `${params.type} programs`, since: ProgramTypeValue[params.type].since }];
  if (params.btf) {
    attr
      .u32('prog_btf_fd', params.btf.btfFd)
      .u32('func_info_rec_size', FUNC_INFO_SIZE)
      .pointer('func_info', params.btf.funcInfo)
      .u32('func_info_cnt', params.btf.funcInfo.byteLength / FUNC_INFO_SIZE);
    if (params.btf.lineInfo.byteLength > 0) {
      attr
        .u32('line_info_rec_size', LINE_INFO_SIZE)
        .pointer('line_info', params.btf.lineInfo)
        .u32('line_info_cnt', params.btf.lineInfo.byteLength / LINE_INFO_SIZE);
    }
  }
  if (params.expectedAttachType !== undefined) {
    const attach = AttachType[params.expectedAttachType];
    attr.u32('expected_attach_type', attach.value);
    requires.push({ feature: `attach type ${params.expectedAttachType}`, since: attach.since });
  }
  return request('PROG_LOAD', attr, { requires });
}

// BPF_BTF_LOAD: btf, btf_log_buf, btf_size, btf_log_size, btf_log_level, btf_log_true_size (6.4).
export const BTF_LOAD = {
  name: 'bpf_attr(BTF_LOAD)',
  size: 32,
  fields: {
    btf: pointer(0),
    btf_log_buf: pointer(8),
    btf_size: u32(16),
    btf_log_size: u32(20),
    btf_log_level: u32(24),
    btf_log_true_size: u32(28, '6.4'),
  },
} as const satisfies StructLayout<string>;

export function btfLoadAttr(btf: Uint8Array, logBuffer: Uint8Array = new Uint8Array(0)) {
  const attr = new StructBuffer(BTF_LOAD)
    .pointer('btf', btf)
    .u32('btf_size', btf.byteLength)
    .pointer('btf_log_buf', logBuffer)
    .u32('btf_log_size', logBuffer.byteLength)
    .u32('btf_log_level', logBuffer.byteLength > 0 ? 1 : 0);
  return request('BTF_LOAD', attr);
}

// BPF_OBJ_PIN and BPF_OBJ_GET.
const OBJ = {
  name: 'bpf_attr(OBJ_*)',
  size: 16,
  fields: {
    pathname: pointer(0),
    bpf_fd: u32(8),
    file_flags: u32(12, '4.15'),
  },
} as const satisfies StructLayout<string>;

export function objPinAttr(fd: number, path: string) {
  return request('OBJ_PIN', new StructBuffer(OBJ).pointer('pathname', cString(path)).u32('bpf_fd', fd));
}

/** `fileFlags`: BPF_F_RDONLY or BPF_F_WRONLY, 0 for read-write. */
export function objGetAttr(path: string, fileFlags = 0) {
  return request('OBJ_GET', new StructBuffer(OBJ).pointer('pathname', cString(path)).u32('file_flags', fileFlags));
}

// BPF_PROG_TEST_RUN: `struct test`, ending with batch_size (u32 at 72), padded to 80.
const PROG_TEST_RUN = {
  name: 'bpf_attr(PROG_TEST_RUN)',
  size: 80,
  fields: {
    prog_fd: u32(0),
    retval: u32(4),
    data_size_in: u32(8),
    data_size_out: u32(12),
    data_in: pointer(16),
    data_out: pointer(24),
    repeat: u32(32),
    duration: u32(36),
    ctx_size_in: u32(40, '5.2'),
    ctx_size_out: u32(44, '5.2'),
    ctx_in: pointer(48, '5.2'),
    ctx_out: pointer(56, '5.2'),
    flags: u32(64, '5.10'),
    cpu: u32(68, '5.10'),
  },
} as const satisfies StructLayout<string>;

export interface ProgTestRunParams {
  readonly progFd: number;
  readonly dataIn: Uint8Array;
  /** Receives the packet as the program left it; data_size_out is its length. */
  readonly dataOut: Uint8Array;
  readonly ctxIn?: Uint8Array;
  readonly ctxOut?: Uint8Array;
  readonly repeat?: number;
  readonly flags?: number;
  readonly cpu?: number;
}

export function progTestRunAttr(params: ProgTestRunParams) {
  const ctxIn = params.ctxIn ?? new Uint8Array(0);
  const ctxOut = params.ctxOut ?? new Uint8Array(0);
  const attr = new StructBuffer(PROG_TEST_RUN)
    .u32('prog_fd', params.progFd)
    .u32('data_size_in', params.dataIn.byteLength)
    .pointer('data_in', params.dataIn)
    .u32('data_size_out', params.dataOut.byteLength)
    .pointer('data_out', params.dataOut)
    .u32('repeat', params.repeat ?? 0)
    .u32('ctx_size_in', ctxIn.byteLength)
    .pointer('ctx_in', ctxIn)
    .u32('ctx_size_out', ctxOut.byteLength)
    .pointer('ctx_out', ctxOut)
    .u32('flags', params.flags ?? 0)
    .u32('cpu', params.cpu ?? 0);
  return request('PROG_TEST_RUN', attr);
}

// BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID share one member of the union.
const GET_ID = {
  name: 'bpf_attr(*_GET_*_ID)',
  size: 12,
  fields: {
    start_id: u32(0),
    next_id: u32(4),
    open_flags: u32(8, '4.15'),
  },
} as const satisfies StructLayout<string>;

export function progGetNextIdAttr(startId: number) {
  return request('PROG_GET_NEXT_ID', new StructBuffer(GET_ID).u32('start_id', startId));
}

export function mapGetNextIdAttr(startId: number) {
  return request('MAP_GET_NEXT_ID', new StructBuffer(GET_ID).u32('start_id', startId));
}

export function progGetFdByIdAttr(id: number) {
  return request('PROG_GET_FD_BY_ID', new StructBuffer(GET_ID).u32('start_id', id));
}

export function mapGetFdByIdAttr(id: number) {
  return request('MAP_GET_FD_BY_ID', new StructBuffer(GET_ID).u32('start_id', id));
}

// BPF_OBJ_GET_INFO_BY_FD: `struct info`.
const OBJ_GET_INFO_BY_FD = {
  name: 'bpf_attr(OBJ_GET_INFO_BY_FD)',
  size: 16,
  fields: {
    bpf_fd: u32(0),
    info_len: u32(4),
    info: pointer(8),
  },
} as const satisfies StructLayout<string>;

/** `info` is a bpf_prog_info, bpf_map_info…; the kernel fills it and sets info_len to what it wrote. */
export function objGetInfoByFdAttr(fd: number, info: StructBuffer<string>) {
  const attr = new StructBuffer(OBJ_GET_INFO_BY_FD).u32('bpf_fd', fd).u32('info_len', info.bytes.byteLength).pointer('info', info.bytes);
  return request('OBJ_GET_INFO_BY_FD', attr, { nested: [info] });
}

// BPF_LINK_CREATE: `struct link_create`; its widest member (kprobe_multi) ends at 48.
const LINK_CREATE = {
  name: 'bpf_attr(LINK_CREATE)',
  size: 48,
  fields: {
    prog_fd: u32(0),
    target: u32(4),
    attach_type: u32(8),
    flags: u32(12),
    tcx_relative_fd: u32(16, '6.6'),
    tcx_expected_revision: u64(24, '6.6'),
  },
} as const satisfies StructLayout<string>;

export interface LinkCreateParams {
  readonly progFd: number;
  /** A file descriptor (cgroup, perf event) or an interface index (XDP, tcx). */
  readonly target: number;
  readonly attachType: AttachTypeName;
  readonly flags?: number;
  /** tcx: the program to insert before or after (with BPF_F_BEFORE/BPF_F_AFTER in flags). */
  readonly relativeFd?: number;
  /** tcx: fail unless the attachment point is still at this revision. */
  readonly expectedRevision?: bigint;
}

export function linkCreateAttr(params: LinkCreateParams) {
  const attach = AttachType[params.attachType];
  const attr = new StructBuffer(LINK_CREATE)
    .u32('prog_fd', params.progFd)
    .u32('target', params.target)
    .u32('attach_type', attach.value)
    .u32('flags', params.flags ?? 0)
    .u32('tcx_relative_fd', params.relativeFd ?? 0)
    .u64('tcx_expected_revision', params.expectedRevision ?? 0n);
  return request('LINK_CREATE', attr, { requires: [{ feature: `links of attach type ${params.attachType}`, since: attach.since }] });
}

// BPF_LINK_UPDATE: `struct link_update`.
const LINK_UPDATE = {
  name: 'bpf_attr(LINK_UPDATE)',
  size: 16,
  fields: {
    link_fd: u32(0),
    new_prog_fd: u32(4),
    flags: u32(8),
    old_prog_fd: u32(12),
  },
} as const satisfies StructLayout<string>;

/** With `oldProgFd`, the update fails unless the link still runs that program (BPF_F_REPLACE). */
export function linkUpdateAttr(linkFd: number, newProgFd: number, oldProgFd?: number) {
  const attr = new StructBuffer(LINK_UPDATE).u32('link_fd', linkFd).u32('new_prog_fd', newProgFd);
  if (oldProgFd !== undefined) attr.u32('flags', F_REPLACE).u32('old_prog_fd', oldProgFd);
  return request('LINK_UPDATE', attr);
}

// BPF_LINK_DETACH: `struct link_detach`.
const LINK_DETACH = {
  name: 'bpf_attr(LINK_DETACH)',
  size: 4,
  fields: { link_fd: u32(0) },
} as const satisfies StructLayout<string>;

export function linkDetachAttr(linkFd: number) {
  return request('LINK_DETACH', new StructBuffer(LINK_DETACH).u32('link_fd', linkFd));
}
