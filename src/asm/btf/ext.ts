/**
 * `.BTF.ext`: per ELF section, which BTF FUNC each function is (func_info)
 * and which source line each instruction came from (line_info). Offsets
 * are in bytes from the start of the section, as compilers emit them;
 * libbpf turns them into instruction indexes for the kernel. File names and
 * source lines are strings of the `.BTF` string table. CO-RE relocation
 * records are skipped: bpfgen neither writes nor applies them.
 */
import { ByteReader, ByteWriter, type StringTable } from './bytes.js';
import { BtfError } from './errors.js';
import type { Btf } from './reader.js';
import { BTF_MAGIC, BTF_VERSION } from './types.js';

/** struct btf_ext_header with the CO-RE fields, as LLVM writes it. */
const EXT_HEADER_SIZE = 32;
/** The header without CO-RE fields, the oldest form libbpf reads. */
const EXT_HEADER_MIN = 24;
const FUNC_INFO_SIZE = 8;
const LINE_INFO_SIZE = 16;
/** line_col packs the line above 10 bits of column (BPF_LINE_INFO_LINE_NUM/COL). */
const COLUMN_BITS = 10;
const MAX_COLUMN = (1 << COLUMN_BITS) - 1;

export interface FuncInfo {
  /** Byte offset of the function's first instruction in its section (for BPF_PROG_LOAD: its slot). */
  readonly insnOffset: number;
  /** Id of its BTF FUNC. */
  readonly typeId: number;
}

export interface LineInfo {
  /** Byte offset of the instruction in its section (for BPF_PROG_LOAD: its slot). */
  readonly insnOffset: number;
  readonly file: string;
  /** The text of the source line, shown by `bpftool prog dump xlated`. */
  readonly text: string;
  readonly line: number;
  /** 0 when unknown. */
  readonly column: number;
}

export interface BtfExt {
  /** Keyed by ELF section name. */
  readonly funcInfo: ReadonlyMap<string, readonly FuncInfo[]>;
  readonly lineInfo: ReadonlyMap<string, readonly LineInfo[]>;
}

/** One struct bpf_func_info: the layout of `.BTF.ext` records and of BPF_PROG_LOAD's func_info alike. */
export function writeFuncInfo(out: ByteWriter, r: FuncInfo): void {
  out.u32(r.insnOffset).u32(r.typeId);
}

/** One struct bpf_line_info, its strings added to `strings`. */
export function writeLineInfo(out: ByteWriter, r: LineInfo, strings: StringTable): void {
  out.u32(r.insnOffset).u32(strings.add(r.file)).u32(strings.add(r.text));
  out.u32(((r.line << COLUMN_BITS) | Math.min(r.column, MAX_COLUMN)) >>> 0);
}

/** Encode `.BTF.ext`; names and lines go into `strings`, the string table of the `.BTF` it accompanies. */
export function encodeBtfExt(ext: BtfExt, strings: StringTable): Uint8Array {
  const funcs = new ByteWriter().u32(FUNC_INFO_SIZE);
  for (const [section, records] of ext.funcInfo) {
    funcs.u32(strings.add(section)).u32(records.length);
    for (const r of records) writeFuncInfo(funcs, r);
  }
  const lines = new ByteWriter().u32(LINE_INFO_SIZE);
  for (const [section, records] of ext.lineInfo) {
    lines.u32(strings.add(section)).u32(records.length);
    for (const r of records) writeLineInfo(lines, r, strings);
  }
  const funcBytes = funcs.finish();
  const lineBytes = lines.finish();
  return new ByteWriter()
    .u16(BTF_MAGIC)
    .u8(BTF_VERSION)
    .u8(0)
    .u32(EXT_HEADER_SIZE)
    .u32(0)
    .u32(funcBytes.byteLength)
    .u32(funcBytes.byteLength)
    .u32(lineBytes.byteLength)
    .u32(funcBytes.byteLength + lineBytes.byteLength)
    .u32(0)
    .bytes(funcBytes)
    .bytes(lineBytes)
    .finish();
}

/** Decode `.BTF.ext`, resolving section names, files and lines through `btf`; throws BtfError. */
export function decodeBtfExt(bytes: Uint8Array, btf: Btf): BtfExt {
  const data: ByteReader = new ByteReader(bytes, (offset, detail) => new BtfError(offset, detail));
  const magic = data.u16(0, '.BTF.ext magic');
  if (magic !== BTF_MAGIC) data.fail(0, `bad .BTF.ext magic 0x${magic.toString(16)} (expected 0x${BTF_MAGIC.toString(16)})`);
  const headerLength = data.u32(4, '.BTF.ext header length');
  if (headerLength < EXT_HEADER_MIN) data.fail(4, `.BTF.ext header length ${headerLength} is shorter than ${EXT_HEADER_MIN} bytes`);
  data.need(0, headerLength, '.BTF.ext header');

  const groups = <T>(at: number, what: string, minimum: number, read: (offset: number) => T): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    const start = headerLength + data.u32(at, `${what} offset`);
    const length = data.u32(at + 4, `${what} length`);
    if (length === 0) return out;
    data.need(start, length, what);
    const end = start + length;
    const recordSize = data.u32(start, `${what} record size`);
    if (recordSize < minimum || recordSize % 4 !== 0) data.fail(start, `${what} record size ${recordSize} is not a multiple of 4 of at least ${minimum}`);
    for (let cursor = start + 4; cursor < end; ) {
      const section = btf.string(data.u32(cursor, `${what} section name`));
      const count = data.u32(cursor + 4, `${what} record count`);
      cursor += 8;
      if (count * recordSize > end - cursor) data.fail(cursor, `${what} of section ${section}: ${count} records run past the end`);
      const records = out.get(section) ?? [];
      for (let i = 0; i < count; i++, cursor += recordSize) records.push(read(cursor));
      out.set(section, records);
    }
    return out;
  };

  const funcInfo = groups(8, 'func_info', FUNC_INFO_SIZE, (r) => ({ insnOffset: data.u32(r, 'func_info insn_off'), typeId: data.u32(r + 4, 'func_info type_id') }));
  const lineInfo = groups(16, 'line_info', LINE_INFO_SIZE, (r) => {
    const lineCol = data.u32(r + 12, 'line_info line_col');
    return {
      insnOffset: data.u32(r, 'line_info insn_off'),
      file: btf.string(data.u32(r + 4, 'line_info file_name_off')),
      text: btf.string(data.u32(r + 8, 'line_info line_off')),
      line: lineCol >>> COLUMN_BITS,
      column: lineCol & MAX_COLUMN,
    };
  });
  return { funcInfo, lineInfo };
}
