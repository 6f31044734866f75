/**
 * Writing assembled programs as an eBPF ELF object that libbpf 1.x
 * (bpftool), iproute2 (`ip link ... obj`, `tc ... bpf obj`) and LLVM's
 * tools read:
 *
 * - each program's entry function in its own executable section (`xdp`,
 *   `tc`, `socket`, or `xdp/<name>` when several programs share a type),
 *   as a global STT_FUNC symbol with its size;
 * - subprograms in `.text` as static functions, which is where libbpf
 *   looks for the targets of bpf-to-bpf calls; a call is `call -1` with an
 *   R_BPF_64_32 relocation against the callee, a function address an
 *   ld_imm64 of its offset with R_BPF_64_64 against `.text`, as clang emits them;
 * - a map reference is an ld_imm64 of 0 with an R_BPF_64_64 relocation
 *   against the map's symbol in `.maps`, a BTF-defined map (maps.ts);
 * - `license`, `.BTF` (maps, function prototypes, the `.maps` DATASEC) and
 *   `.BTF.ext` (func_info, and line_info pointing at the source lines);
 * - labels as local symbols, so that llvm-objdump names jump targets.
 */
import { encodeBtfExt, type FuncInfo, type LineInfo } from '../btf/ext.js';
import { addFunctionType, btfIdentifier } from '../btf/program.js';
import { BtfBuilder } from '../btf/writer.js';
import { encode, type Instruction } from '../instruction.js';
import { LD_IMM64_CODE } from '../opcodes.js';
import { slotOffsets, type AssembledProgram, type MapDefinition } from '../program.js';
import { BpfRelocation, SectionFlag, SectionType, SymbolBind, SymbolType } from './constants.js';
import { ElfError } from './errors.js';
import { functionRanges, functionTargets, type FunctionRange } from './functions.js';
import { lineRecords, sourceFromDisk, sourceLineText, type SourceText } from './line-info.js';
import { addMapStruct } from './maps.js';
import { SECTION_BY_TYPE } from './sections.js';
import { ElfBuilder, type SymbolHandle } from './write.js';

export interface WriteObjectOptions {
  /** Source text for line_info, by file as the source map names it; by default read from disk. */
  readonly sourceText?: SourceText;
}

const SLOT_BYTES = 8;
const TEXT = '.text';

/** One function of one program, where it goes in the object. */
interface PlacedFunction {
  readonly program: AssembledProgram;
  readonly range: FunctionRange;
  readonly section: string;
  /** Byte offset in its section. */
  readonly offset: number;
  /** The entry function carries the program's name. */
  readonly symbolName: string;
}

/** The ELF object holding `programs`; throws ElfError for what cannot be expressed in one. */
export function writeObject(programs: readonly AssembledProgram[], options: WriteObjectOptions = {}): Uint8Array {
  const license = checkPrograms(programs);
  const elf = new ElfBuilder();
  const btf = new BtfBuilder();
  const ranges = new Map(programs.map((program) => [program, functionRanges(program)]));
  const placed = layOut(programs, ranges);

  const sectionIndex = new Map<string, number>();
  for (const fn of placed) {
    if (sectionIndex.has(fn.section)) continue;
    sectionIndex.set(fn.section, elf.addSection({ name: fn.section, type: SectionType.PROGBITS, flags: SectionFlag.ALLOC | SectionFlag.EXECINSTR, data: new Uint8Array(0), align: 8 }));
  }
  elf.addSection({ name: 'license', type: SectionType.PROGBITS, flags: SectionFlag.WRITE | SectionFlag.ALLOC, data: new TextEncoder().encode(`${license}\0`), align: 1 });
  const mapSymbols = writeMaps(elf, btf, collectMaps(programs));
  const btfIndex = elf.addSection({ name: '.BTF', type: SectionType.PROGBITS, flags: 0, data: new Uint8Array(0), align: 4 });
  const extIndex = elf.addSection({ name: '.BTF.ext', type: SectionType.PROGBITS, flags: 0, data: new Uint8Array(0), align: 4 });

  const symbols = new Map<PlacedFunction, SymbolHandle>();
  const funcInfo = new Map<string, FuncInfo[]>();
  for (const fn of placed) {
    const size = slotCount(fn.program, fn.range.start, fn.range.end) * SLOT_BYTES;
    const bind = fn.range.entry ? SymbolBind.GLOBAL : SymbolBind.LOCAL;
    symbols.set(fn, elf.addSymbol({ name: fn.symbolName, type: SymbolType.FUNC, bind, section: sectionIndex.get(fn.section)!, value: fn.offset, size }));
    const records = funcInfo.get(fn.section) ?? [];
    records.push({ insnOffset: fn.offset, typeId: addFunctionType(btf, fn.symbolName, fn.range.entry, fn.program.type) });
    funcInfo.set(fn.section, records);
  }

  const code = new Map<string, Instruction[]>([...sectionIndex.keys()].map((name) => [name, []]));
  let text: SymbolHandle | undefined;
  const textSymbol = () => (text ??= elf.addSymbol({ name: '', type: SymbolType.SECTION, bind: SymbolBind.LOCAL, section: sectionIndex.get(TEXT)!, value: 0, size: 0 }));
  for (const program of programs) {
    const own = placed.filter((fn) => fn.program === program);
    const functions = ranges.get(program)!;
    const targets = functionTargets(program, functions);
    const maps = mapReferences(program);
    const slots = slotOffsets(program.insns);
    for (const fn of own) {
      const out = code.get(fn.section)!;
      const section = sectionIndex.get(fn.section)!;
      const offsetOf = (index: number) => fn.offset + (slots[index]! - slots[fn.range.start]!) * SLOT_BYTES;
      for (let index = fn.range.start; index < fn.range.end; index++) {
        const insn = program.insns[index]!;
        const target = targets.get(index);
        const map = maps.get(index);
        if (target !== undefined) {
          const callee = own.find((f) => f.range === functions[target])!;
          if (callee.range.entry) throw new ElfError(`program ${program.name}: instruction ${index} refers to the entry function; libbpf resolves calls only into .text subprograms`);
          if (insn.code === LD_IMM64_CODE) {
            // As clang emits the address of a static function: a plain load of its offset in .text against the
            // section's symbol (libbpf takes only that, or a global function, for an address, and marks it BPF_PSEUDO_FUNC).
            out.push({ ...insn, src: 0, imm: callee.offset, imm2: 0 });
            elf.addRelocation(section, offsetOf(index), BpfRelocation.R_BPF_64_64, textSymbol());
          } else {
            out.push({ ...insn, imm: -1 });
            elf.addRelocation(section, offsetOf(index), BpfRelocation.R_BPF_64_32, symbols.get(callee)!);
          }
        } else if (map !== undefined) {
          const symbol = mapSymbols.get(map);
          if (!symbol) throw new ElfError(`program ${program.name}: instruction ${index} refers to map ${map}, which the program does not declare`);
          // As clang emits it: a plain 64-bit load of 0; libbpf sets the pseudo source and the map's fd.
          out.push({ ...insn, src: 0, imm: 0, imm2: 0 });
          elf.addRelocation(section, offsetOf(index), BpfRelocation.R_BPF_64_64, symbol);
        } else {
          out.push(insn);
        }
      }
      for (const label of program.labels) {
        if (label.insn <= fn.range.start || label.insn >= fn.range.end) continue;
        elf.addSymbol({ name: label.name, type: SymbolType.NOTYPE, bind: SymbolBind.LOCAL, section, value: offsetOf(label.insn), size: 0 });
      }
    }
  }
  for (const [name, insns] of code) elf.setSectionData(sectionIndex.get(name)!, encode(insns));

  const lineInfo = lineInfoOf(placed, options.sourceText ?? sourceFromDisk());
  elf.setSectionData(extIndex, encodeBtfExt({ funcInfo, lineInfo: lineInfo ?? new Map() }, btf.strings));
  elf.setSectionData(btfIndex, btf.encode());
  return elf.finish();
}

/** Names distinct, one license; returns it. */
function checkPrograms(programs: readonly AssembledProgram[]): string {
  if (programs.length === 0) throw new ElfError('no programs to write');
  const names = new Set<string>();
  for (const p of programs) {
    if (names.has(p.name)) throw new ElfError(`two programs are named ${p.name}; an object needs distinct names`);
    names.add(p.name);
  }
  const licenses = [...new Set(programs.map((p) => p.license))];
  if (licenses.length > 1) throw new ElfError(`the programs have different licenses (${licenses.join(', ')}); an object has one license section`);
  return licenses[0]!;
}

/**
 * Where each function goes: entry functions into their program's section,
 * named by type (`xdp`), or `type/name` when several programs share a type;
 * subprograms one after another into .text, which comes first as in clang's
 * objects.
 */
function layOut(programs: readonly AssembledProgram[], ranges: ReadonlyMap<AssembledProgram, readonly FunctionRange[]>): PlacedFunction[] {
  const perType = new Map<string, number>();
  for (const p of programs) perType.set(SECTION_BY_TYPE[p.type], (perType.get(SECTION_BY_TYPE[p.type]) ?? 0) + 1);
  const text: PlacedFunction[] = [];
  const entries: PlacedFunction[] = [];
  const owner = new Map<string, string>();
  let textBytes = 0;
  for (const program of programs) {
    const base = SECTION_BY_TYPE[program.type];
    for (const range of ranges.get(program)!) {
      if (range.entry) {
        entries.push({ program, range, section: perType.get(base)! > 1 ? `${base}/${program.name}` : base, offset: 0, symbolName: program.name });
        continue;
      }
      const other = owner.get(range.name);
      if (other !== undefined) throw new ElfError(`programs ${other} and ${program.name} both have a subprogram named ${range.name}; subprograms share .text, so their names must differ`);
      owner.set(range.name, program.name);
      text.push({ program, range, section: TEXT, offset: textBytes, symbolName: range.name });
      textBytes += slotCount(program, range.start, range.end) * SLOT_BYTES;
    }
  }
  return [...text, ...entries];
}

function slotCount(program: AssembledProgram, start: number, end: number): number {
  const slots = slotOffsets(program.insns);
  return (end < program.insns.length ? slots[end]! : program.bytes.byteLength / SLOT_BYTES) - slots[start]!;
}

/** Maps of all programs by name; a name used twice must mean the same map. */
function collectMaps(programs: readonly AssembledProgram[]): MapDefinition[] {
  const maps = new Map<string, MapDefinition>();
  for (const program of programs) {
    for (const map of program.maps) {
      const known = maps.get(map.name);
      const shape = (m: MapDefinition) => `${m.type} ${m.keySize}/${m.valueSize}/${m.maxEntries}/${m.flags ?? 0}`;
      if (known && shape(known) !== shape(map)) {
        throw new ElfError(`map ${map.name} is declared twice differently (${shape(known)} and ${shape(map)}, type key/value/entries/flags); the programs of one object share their maps`);
      }
      maps.set(map.name, map);
    }
  }
  return [...maps.values()];
}

/** Instruction index -> map name, for the map_fd relocations; other kinds the object cannot carry are errors. */
function mapReferences(program: AssembledProgram): Map<number, string> {
  const out = new Map<number, string>();
  for (const r of program.relocations) {
    if (r.kind === 'map_fd') out.set(r.insn, r.symbol);
    if (r.kind === 'map_value') {
      throw new ElfError(
        `program ${program.name}: instruction ${r.insn} reads map ${r.symbol}'s value directly (map_value); in an object libbpf supports that only for global variables (.data, .rodata, .bss), not for maps in .maps`,
      );
    }
    if (r.kind === 'kfunc') {
      throw new ElfError(`program ${program.name}: instruction ${r.insn} calls kernel function ${r.symbol}; a kfunc in an object needs an extern declaration with the kernel's prototype, which bpfgen does not write`);
    }
  }
  return out;
}

/** `.maps`: one zeroed struct per map, its global symbol, and BTF VARs in a DATASEC; returns the symbols by map name. */
function writeMaps(elf: ElfBuilder, btf: BtfBuilder, maps: readonly MapDefinition[]): Map<string, SymbolHandle> {
  const symbols = new Map<string, SymbolHandle>();
  if (maps.length === 0) return symbols;
  const vars: { type: number; offset: number; size: number }[] = [];
  const placed: { map: MapDefinition; offset: number; size: number }[] = [];
  let offset = 0;
  for (const map of maps) {
    const struct = addMapStruct(btf, map);
    vars.push({ type: btf.add({ kind: 'var', name: btfIdentifier(map.name), type: struct.type, linkage: 'global_allocated' }), offset, size: struct.size });
    placed.push({ map, offset, size: struct.size });
    offset += struct.size;
  }
  btf.add({ kind: 'datasec', name: '.maps', size: offset, vars });
  const section = elf.addSection({ name: '.maps', type: SectionType.PROGBITS, flags: SectionFlag.WRITE | SectionFlag.ALLOC, data: new Uint8Array(offset), align: 8 });
  for (const { map, offset: at, size } of placed) {
    symbols.set(map.name, elf.addSymbol({ name: map.name, type: SymbolType.OBJECT, bind: SymbolBind.GLOBAL, section, value: at, size }));
  }
  return symbols;
}

/** line_info of every section, or undefined when some function has no source location (the kernel wants all or none). */
function lineInfoOf(placed: readonly PlacedFunction[], source: SourceText): Map<string, LineInfo[]> | undefined {
  const text = sourceLineText(source);
  const out = new Map<string, LineInfo[]>();
  for (const fn of placed) {
    const slots = slotOffsets(fn.program.insns);
    const offsetOf = (index: number) => fn.offset + (slots[index]! - slots[fn.range.start]!) * SLOT_BYTES;
    const records = lineRecords(fn.program.sourceMap, fn.range.start, fn.range.end, offsetOf, text);
    if (!records) return undefined;
    out.set(fn.section, [...(out.get(fn.section) ?? []), ...records]);
  }
  return out;
}
