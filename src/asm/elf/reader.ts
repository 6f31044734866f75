/**
 * Reading eBPF objects (clang's or bpfgen's) into the structures the DSL
 * produces. Two levels:
 *
 * - `readObjectSections`: the code sections as they are in the file, with
 *   their functions, labels, relocations and line info, plus the license
 *   and the BTF-defined maps; what `bpfgen dump --object` prints, as
 *   llvm-objdump -dr does;
 * - `readObject`: also every program, linked as libbpf links it: the entry
 *   function from its section, followed by the .text subprograms it calls
 *   (depth first, in the order calls reach them), with calls and function
 *   addresses made pc-relative and map references named, ready for
 *   `loadProgram`.
 *
 * Whatever is wrong with the input is an ElfError naming the section and
 * offset.
 */
import { decodeBtfExt, type BtfExt, type LineInfo } from '../btf/ext.js';
import { BtfError } from '../btf/errors.js';
import { Btf } from '../btf/reader.js';
import { decode, encode, EncodingError, SLOT_BYTES, type Instruction } from '../instruction.js';
import { CallSrc, LD_IMM64_CODE, PseudoSrc } from '../opcodes.js';
import {
  indexBySlot,
  slotOffsets,
  type AssembledProgram,
  type FunctionSymbol,
  type LabelSymbol,
  type MapDefinition,
  type Relocation,
  type SourceLocation,
} from '../program.js';
import { callLocal } from '../func.js';
import { BpfRelocation, relocationNameByValue, SymbolBind, SymbolType, SHN_UNDEF } from './constants.js';
import { ElfError } from './errors.js';
import { isExecutable, parseElf, type ElfFile, type ElfSection, type ElfSymbol } from './file.js';
import { mapFromStruct } from './maps.js';
import { KNOWN_SECTION_PREFIXES, programTypeOfSection } from './sections.js';

export interface ReadObjectOptions {
  /** The file's name, for messages. */
  readonly file?: string;
}

/** A relocation of a code section, classified; `target` is the symbol's section (undefined when external). */
interface CodeRelocation extends Relocation {
  readonly elfSymbol: ElfSymbol;
  readonly target: ElfSection | undefined;
}

/** One executable section as the file has it: a Listing for the disassembler. */
export interface CodeSection {
  readonly name: string;
  readonly insns: readonly Instruction[];
  readonly functions: readonly FunctionSymbol[];
  readonly labels: readonly LabelSymbol[];
  /** By instruction index within the section; symbols as llvm-objdump names them. */
  readonly relocations: readonly Relocation[];
  /** From `.BTF.ext` line_info; each instruction takes the last record at or before it in its function. */
  readonly sourceMap: readonly (SourceLocation | undefined)[];
}

export interface ObjectSections {
  readonly license: string;
  readonly maps: readonly MapDefinition[];
  readonly sections: readonly CodeSection[];
}

export interface BpfObject extends ObjectSections {
  /** The programs, in section order and, within a section, by offset. */
  readonly programs: readonly AssembledProgram[];
}

/** Code sections, maps and license of an object, without linking programs. */
export function readObjectSections(bytes: Uint8Array, options: ReadObjectOptions = {}): ObjectSections {
  const sections = parseObject(bytes, options);
  return { license: sections.license, maps: sections.maps, sections: sections.code.map((c) => c.listing) };
}

/** Everything `readObjectSections` gives, and the programs linked for loading. */
export function readObject(bytes: Uint8Array, options: ReadObjectOptions = {}): BpfObject {
  const sections = parseObject(bytes, options);
  const programs = sections.code.flatMap((code) =>
    code.section.name === TEXT ? [] : code.listing.functions.filter((f) => f.entry).map((f) => linkProgram(sections, code, f, options.file)),
  );
  return { license: sections.license, maps: sections.maps, sections: sections.code.map((c) => c.listing), programs };
}

const TEXT = '.text';
const CALL_CODE = callLocal(0).code;

interface ParsedCode {
  readonly section: ElfSection;
  readonly listing: CodeSection;
  readonly slots: readonly number[];
  /** Relocations by instruction index. */
  readonly relocationAt: ReadonlyMap<number, CodeRelocation>;
}

interface ParsedSections {
  readonly license: string;
  readonly maps: readonly MapDefinition[];
  /** Map name by offset in `.maps`. */
  readonly mapAt: ReadonlyMap<number, string>;
  readonly code: readonly ParsedCode[];
}

function parseObject(bytes: Uint8Array, options: ReadObjectOptions): ParsedSections {
  const file = options.file;
  const elf = parseElf(bytes, file);
  const named = (name: string) => elf.sections.find((s) => s.name === name);
  const legacy = named('maps');
  if (legacy && legacy.data.byteLength > 0) {
    throw new ElfError("legacy map definitions (struct bpf_map_def in section 'maps') are not supported, as in libbpf 1.x: declare maps with BTF in .maps", { file, section: 'maps' });
  }
  const btfSection = named('.BTF');
  const btf = btfSection ? withBtfErrors(btfSection, file, () => Btf.parse(btfSection.data)) : undefined;
  const extSection = named('.BTF.ext');
  const ext = extSection && btf ? withBtfErrors(extSection, file, () => decodeBtfExt(extSection.data, btf)) : undefined;
  const { maps, mapAt } = readMaps(elf, btfSection && btf ? { btf, section: btfSection } : undefined, file);
  const code = elf.sections.filter((s) => isExecutable(s) && s.data.byteLength > 0).map((s) => parseCode(elf, s, ext, file));
  return { license: readLicense(named('license'), file), maps, mapAt, code };
}

function withBtfErrors<T>(section: ElfSection, file: string | undefined, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof BtfError) throw new ElfError(error.detail, { file, section: section.name, offset: error.offset });
    throw error;
  }
}

function readLicense(section: ElfSection | undefined, file: string | undefined): string {
  if (!section) return '';
  const end = section.data.indexOf(0);
  if (end < 0) throw new ElfError('the license is not NUL-terminated', { file, section: section.name });
  return new TextDecoder().decode(section.data.subarray(0, end));
}

/** BTF-defined maps: each symbol in .maps names a VAR of the `.maps` DATASEC whose struct describes the map. */
function readMaps(elf: ElfFile, described: { btf: Btf; section: ElfSection } | undefined, file: string | undefined): { maps: MapDefinition[]; mapAt: Map<number, string> } {
  const section = elf.sections.find((s) => s.name === '.maps');
  const maps: MapDefinition[] = [];
  const mapAt = new Map<number, string>();
  if (!section) return { maps, mapAt };
  const symbols = elf.symbols
    .filter((s) => s.section === section.index && s.type !== SymbolType.SECTION && s.name !== '')
    .sort((a, b) => a.value - b.value);
  if (symbols.length === 0) return { maps, mapAt };
  if (!described) throw new ElfError('maps need BTF to describe them, but the object has no .BTF section (libbpf 1.x refuses such maps too)', { file, section: '.maps' });
  const { btf } = described;
  // Problems inside the BTF are reported in .BTF; those of a map's description at the map's offset in .maps.
  const datasec = withBtfErrors(described.section, file, () => btf.find('datasec', '.maps'));
  if (!datasec) throw new ElfError('.BTF has no DATASEC .maps describing the maps', { file, section: '.BTF' });
  for (const symbol of symbols) {
    const fail = (detail: string): never => {
      throw new ElfError(detail, { file, section: '.maps', offset: symbol.value });
    };
    const map = withBtfErrors(described.section, file, () => {
      const variable = datasec.vars.map((v) => btf.type(v.type)).find((t) => t.kind === 'var' && t.name === symbol.name);
      if (!variable || variable.kind !== 'var') return fail(`map ${symbol.name} has no VAR in the .maps DATASEC`);
      return mapFromStruct(btf, symbol.name, variable.type, fail);
    });
    maps.push(map);
    mapAt.set(symbol.value, map.name);
  }
  return { maps, mapAt };
}

/** A symbol's name as llvm-objdump shows it: section symbols go by their section's name. */
function symbolName(elf: ElfFile, symbol: ElfSymbol): string {
  if (symbol.type === SymbolType.SECTION && symbol.name === '') return elf.sections[symbol.section]?.name ?? '';
  return symbol.name;
}

function parseCode(elf: ElfFile, section: ElfSection, ext: BtfExt | undefined, file: string | undefined): ParsedCode {
  const fail = (offset: number, detail: string): never => {
    throw new ElfError(detail, { file, section: section.name, offset });
  };
  let insns: Instruction[];
  try {
    insns = decode(section.data);
  } catch (error) {
    if (error instanceof EncodingError) return fail(error.slot * SLOT_BYTES, error.message);
    throw error;
  }
  const slots = slotOffsets(insns);
  const bySlot = indexBySlot(insns);
  const totalSlots = section.data.byteLength / SLOT_BYTES;
  /** Instruction index at a byte offset, which must start an instruction (`end` allows the section's end). */
  const indexAt = (offset: number, what: string, end = false): number => {
    if (offset % SLOT_BYTES !== 0) fail(offset, `${what} at byte ${offset} is not at an instruction boundary`);
    if (end && offset === section.data.byteLength) return insns.length;
    const index = bySlot[offset / SLOT_BYTES];
    if (index === undefined) return fail(offset, `${what} at byte ${offset} is beyond the section's ${totalSlots} instructions`);
    if (index < 0) return fail(offset, `${what} at byte ${offset} is inside a 64-bit immediate load`);
    return index;
  };

  const own = elf.symbols.filter((s) => s.section === section.index && s.name !== '');
  const funcs = own.filter((s) => s.type === SymbolType.FUNC).sort((a, b) => a.value - b.value);
  const functions: FunctionSymbol[] = funcs.map((symbol, i) => {
    const start = indexAt(symbol.value, `function ${symbol.name}`);
    // A size of 0 (hand-written assembly) runs to the next function.
    const endOffset = symbol.size > 0 ? symbol.value + symbol.size : (funcs[i + 1]?.value ?? section.data.byteLength);
    const end = indexAt(endOffset, `end of function ${symbol.name}`, true);
    if (end <= start) fail(symbol.value, `function ${symbol.name} is empty`);
    const entry = section.name !== TEXT && symbol.bind !== SymbolBind.LOCAL;
    return { name: symbol.name, insn: start, length: end - start, entry };
  });
  functions.forEach((fn, i) => {
    const next = functions[i + 1];
    if (next && fn.insn + fn.length > next.insn) fail(funcs[i]!.value, `function ${fn.name} overlaps function ${next.name}`);
  });
  const labels: LabelSymbol[] = own
    .filter((s) => s.type === SymbolType.NOTYPE && s.bind === SymbolBind.LOCAL)
    .map((s) => ({ name: s.name, insn: indexAt(s.value, `label ${s.name}`) }))
    .sort((a, b) => a.insn - b.insn);

  const relocationAt = new Map<number, CodeRelocation>();
  for (const r of elf.relocations.get(section.index) ?? []) {
    const index = indexAt(r.offset, `relocation against ${symbolName(elf, r.symbol)}`);
    if (relocationAt.has(index)) fail(r.offset, `two relocations patch the instruction at byte ${r.offset}`);
    relocationAt.set(index, classifyRelocation(elf, insns[index]!, index, r, (detail) => fail(r.offset, detail)));
  }

  const sourceMap = sectionSourceMap(ext?.lineInfo.get(section.name) ?? [], insns.length, functions, (offset, what) => {
    try {
      return indexAt(offset, what);
    } catch (error) {
      if (error instanceof ElfError) throw new ElfError(`line_info of section ${section.name}: ${error.detail}`, { file, section: '.BTF.ext' });
      throw error;
    }
  });
  const relocations = [...relocationAt.values()].sort((a, b) => a.insn - b.insn).map(({ insn, kind, symbol }) => ({ insn, kind, symbol }));
  return { section, slots, relocationAt, listing: { name: section.name, insns, functions, labels, relocations, sourceMap } };
}

/** What a relocation of code means, from its type, the instruction and the symbol's section. */
function classifyRelocation(elf: ElfFile, insn: Instruction, index: number, r: { type: number; symbol: ElfSymbol }, fail: (detail: string) => never): CodeRelocation {
  const target = r.symbol.section === SHN_UNDEF || r.symbol.section >= elf.sections.length ? undefined : elf.sections[r.symbol.section];
  const symbol = symbolName(elf, r.symbol);
  const base = { insn: index, symbol, elfSymbol: r.symbol, target };
  const typeName = relocationNameByValue.get(r.type) ?? `type ${r.type}`;
  if (r.type === BpfRelocation.R_BPF_64_32) {
    if (insn.code !== CALL_CODE) return fail(`${typeName} against ${symbol} patches an instruction that is not a call`);
    if (insn.src === CallSrc.KFUNC || !target) return { ...base, kind: 'kfunc' };
    if (insn.src !== CallSrc.LOCAL) return fail(`${typeName} against ${symbol} patches a call that is not a bpf-to-bpf call (src ${insn.src})`);
    return { ...base, kind: 'call' };
  }
  if (r.type === BpfRelocation.R_BPF_64_64) {
    if (insn.code !== LD_IMM64_CODE) return fail(`${typeName} against ${symbol} patches an instruction that is not a 64-bit immediate load`);
    if (insn.src === PseudoSrc.FUNC || (target && isExecutable(target))) return { ...base, kind: 'func_addr' };
    if (!target || target.name === '.maps') return { ...base, kind: 'map_fd' };
    return { ...base, kind: 'map_value' };
  }
  return fail(`relocation ${typeName} against ${symbol} cannot patch code (expected R_BPF_64_64 or R_BPF_64_32)`);
}

/** Per instruction, the last line record at or before it within its function. */
function sectionSourceMap(
  records: readonly LineInfo[],
  count: number,
  functions: readonly FunctionSymbol[],
  indexAt: (offset: number, what: string) => number,
): (SourceLocation | undefined)[] {
  const at = new Map<number, SourceLocation>();
  for (const r of records) {
    const location = r.column > 0 ? { file: r.file, line: r.line, column: r.column } : { file: r.file, line: r.line };
    at.set(indexAt(r.insnOffset, 'line record'), location);
  }
  const starts = new Set(functions.map((f) => f.insn));
  const out: (SourceLocation | undefined)[] = [];
  let current: SourceLocation | undefined;
  for (let index = 0; index < count; index++) {
    if (starts.has(index)) current = undefined;
    current = at.get(index) ?? current;
    out.push(current);
  }
  return out;
}

/**
 * A program: its entry function, then each .text subprogram the first time
 * a call or function address reaches it, depth first as libbpf appends
 * them; calls and function addresses become pc-relative in that layout.
 */
function linkProgram(sections: ParsedSections, home: ParsedCode, entry: FunctionSymbol, file: string | undefined): AssembledProgram {
  const type = programTypeOfSection(home.section.name);
  if (!type) {
    throw new ElfError(`program ${entry.name}: the section name gives no program type bpfgen knows (${KNOWN_SECTION_PREFIXES.join(', ')}, optionally followed by /name)`, {
      file,
      section: home.section.name,
    });
  }
  const text = sections.code.find((c) => c.section.name === TEXT);
  const insns: Instruction[] = [];
  const sourceMap: (SourceLocation | undefined)[] = [];
  const functions: FunctionSymbol[] = [];
  const labels: LabelSymbol[] = [];
  const relocations: Relocation[] = [];
  const usedMaps = new Set<string>();
  /** Pending pc-relative references: output index -> target function (output index of its first instruction once placed). */
  const references: { at: number; callee: FunctionSymbol }[] = [];
  const placedAt = new Map<FunctionSymbol, number>();

  const fail = (code: ParsedCode, index: number, detail: string): never => {
    throw new ElfError(`program ${entry.name}: ${detail}`, { file, section: code.section.name, offset: code.slots[index]! * SLOT_BYTES });
  };
  /** The function of `code` that starts at byte `offset`. */
  const functionAt = (code: ParsedCode, offset: number, from: number): FunctionSymbol => {
    if (offset % SLOT_BYTES !== 0) return fail(code, from, `the target at byte ${offset} of ${code.section.name} is not an instruction boundary`);
    const index = indexBySlot(code.listing.insns)[offset / SLOT_BYTES];
    const fn = index === undefined ? undefined : code.listing.functions.find((f) => f.insn === index);
    return fn ?? fail(code, from, `the target at byte ${offset} of ${code.section.name} starts no function`);
  };

  /** The function a call or function-address load at `index` of `code` lands on, or undefined for other instructions. */
  const calleeOf = (code: ParsedCode, index: number): FunctionSymbol | undefined => {
    const insn = code.listing.insns[index]!;
    const relocation = code.relocationAt.get(index);
    if (relocation?.kind === 'call' || relocation?.kind === 'func_addr') {
      if (relocation.target?.name !== TEXT || !text) {
        return fail(code, index, `${relocation.kind === 'call' ? 'call' : 'function address'} of ${relocation.symbol}, which is not in .text (libbpf keeps subprograms there)`);
      }
      // A call's imm counts instructions after it (-1 against a function symbol); a function address adds bytes.
      const offset = relocation.kind === 'call' ? relocation.elfSymbol.value + (insn.imm + 1) * SLOT_BYTES : relocation.elfSymbol.value + insn.imm;
      return functionAt(text, offset, index);
    }
    if (insn.code === CALL_CODE && insn.src === CallSrc.LOCAL && !relocation) {
      if (code.section.name !== TEXT) return fail(code, index, 'a bpf-to-bpf call without a relocation outside .text');
      return functionAt(code, (code.slots[index]! + 1 + insn.imm) * SLOT_BYTES, index);
    }
    return undefined;
  };

  const place = (code: ParsedCode, fn: FunctionSymbol): void => {
    const base = insns.length;
    placedAt.set(fn, base);
    functions.push({ ...fn, insn: base, entry: fn === entry });
    for (const label of code.listing.labels) {
      if (label.insn >= fn.insn && label.insn < fn.insn + fn.length) labels.push({ name: label.name, insn: base + label.insn - fn.insn });
    }
    insns.push(...code.listing.insns.slice(fn.insn, fn.insn + fn.length));
    sourceMap.push(...code.listing.sourceMap.slice(fn.insn, fn.insn + fn.length));
    for (let index = fn.insn; index < fn.insn + fn.length; index++) {
      const at = base + index - fn.insn;
      const insn = insns[at]!;
      const callee = calleeOf(code, index);
      if (callee) {
        const isLoad = insn.code === LD_IMM64_CODE;
        if (isLoad) insns[at] = { ...insn, src: PseudoSrc.FUNC };
        references.push({ at, callee });
        relocations.push({ insn: at, kind: isLoad ? 'func_addr' : 'call', symbol: callee.name });
        // As libbpf does: the whole function is in place; a subprogram is appended when a reference first reaches it.
        if (!placedAt.has(callee)) place(text!, callee);
        continue;
      }
      const relocation = code.relocationAt.get(index);
      if (relocation?.kind === 'map_fd') {
        const map = relocation.target ? sections.mapAt.get(relocation.elfSymbol.value) : undefined;
        if (!map) {
          return fail(code, index, relocation.target ? `${relocation.symbol} is not a map in .maps` : `${relocation.symbol} is an external variable, which bpfgen cannot resolve`);
        }
        usedMaps.add(map);
        relocations.push({ insn: at, kind: 'map_fd', symbol: map });
      } else if (relocation?.kind === 'map_value') {
        return fail(code, index, `global variable ${relocation.symbol} in ${relocation.target?.name}: global data sections are not supported`);
      } else if (relocation?.kind === 'kfunc') {
        relocations.push({ insn: at, kind: 'kfunc', symbol: relocation.symbol });
      }
    }
  };
  place(home, entry);

  const outSlots = slotOffsets(insns);
  for (const { at, callee } of references) {
    const target = outSlots[placedAt.get(callee)!]!;
    insns[at] = { ...insns[at]!, imm: target - outSlots[at]! - 1, ...(insns[at]!.code === LD_IMM64_CODE ? { imm2: 0 } : {}) };
  }
  return {
    name: entry.name,
    type,
    license: sections.license,
    insns,
    bytes: encode(insns),
    relocations,
    functions,
    labels: labels.sort((a, b) => a.insn - b.insn),
    maps: sections.maps.filter((m) => usedMaps.has(m.name)),
    sourceMap,
  };
}

