/**
 * The ELF container of an eBPF object: header, sections, symbols and REL
 * relocations, checked field by field. Everything read is bounds-checked,
 * so a truncated or corrupt file gives an ElfError that names the section
 * and offset rather than a crash. What the sections mean is object.ts's
 * business.
 */
import { ByteReader } from '../btf/bytes.js';
import {
  EM_BPF,
  ELF_HEADER_SIZE,
  ELF_MAGIC,
  ELFCLASS64,
  ELFDATA2LSB,
  ET_REL,
  REL_SIZE,
  SECTION_HEADER_SIZE,
  SHN_LORESERVE,
  SHN_XINDEX,
  SYMBOL_SIZE,
  SectionFlag,
  SectionType,
} from './constants.js';
import { ElfError } from './errors.js';

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly link: number;
  readonly info: number;
  readonly entrySize: number;
  /** The section's bytes (empty for SHT_NOBITS). */
  readonly data: Uint8Array;
  /** Size in the file's header; for SHT_NOBITS larger than `data`. */
  readonly size: number;
}

export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  readonly value: number;
  readonly size: number;
  /** STT_* */
  readonly type: number;
  /** STB_* */
  readonly bind: number;
  /** Index of the section it is defined in; 0 (SHN_UNDEF) for an external, SHN_ABS etc. above SHN_LORESERVE. */
  readonly section: number;
}

export interface ElfRelocation {
  /** Byte offset in the patched section. */
  readonly offset: number;
  /** R_BPF_* */
  readonly type: number;
  readonly symbol: ElfSymbol;
}

export interface ElfFile {
  readonly sections: readonly ElfSection[];
  readonly symbols: readonly ElfSymbol[];
  /** REL entries by the index of the section they patch. */
  readonly relocations: ReadonlyMap<number, readonly ElfRelocation[]>;
}

/** A reader over one section's bytes whose errors name the section. */
export function sectionReader(section: Pick<ElfSection, 'name' | 'data'>, file: string | undefined): ByteReader {
  return new ByteReader(section.data, (offset, detail) => new ElfError(detail, { file, section: section.name, offset }));
}

export function parseElf(bytes: Uint8Array, file?: string): ElfFile {
  const r: ByteReader = new ByteReader(bytes, (offset, detail) => new ElfError(detail, { file, offset }));
  r.need(0, ELF_HEADER_SIZE, 'ELF header');
  if (!ELF_MAGIC.every((b, i) => bytes[i] === b)) r.fail(0, 'not an ELF file (bad magic)');
  if (bytes[4] !== ELFCLASS64) r.fail(4, `ELF class ${bytes[4]} is not ELFCLASS64: eBPF objects are 64-bit`);
  if (bytes[5] !== ELFDATA2LSB) r.fail(5, `ELF data encoding ${bytes[5]} is not little-endian; bpfgen reads little-endian (bpfel) objects`);
  const type = r.u16(16, 'e_type');
  if (type !== ET_REL) r.fail(16, `e_type ${type} is not ET_REL (1): expected a relocatable object as clang -c writes`);
  const machine = r.u16(18, 'e_machine');
  if (machine !== EM_BPF) r.fail(18, `e_machine ${machine} is not EM_BPF (${EM_BPF}): not an eBPF object`);
  const sectionTable = r.u64(40, 'e_shoff');
  const entrySize = r.u16(58, 'e_shentsize');
  let count = r.u16(60, 'e_shnum');
  let namesIndex = r.u16(62, 'e_shstrndx');
  if (sectionTable === 0) r.fail(40, 'the object has no section header table');
  if (entrySize !== SECTION_HEADER_SIZE) r.fail(58, `e_shentsize ${entrySize} is not ${SECTION_HEADER_SIZE}`);
  // Section 0 holds the real counts when they do not fit in the header.
  if (count === 0) count = r.u64(sectionTable + 32, 'section count in section 0');
  if (namesIndex === SHN_XINDEX) namesIndex = r.u32(sectionTable + 40, 'section-name table index in section 0');
  r.need(sectionTable, count * SECTION_HEADER_SIZE, `section header table of ${count} entries`);

  const headers = Array.from({ length: count }, (_, index) => {
    const at = sectionTable + index * SECTION_HEADER_SIZE;
    const type = r.u32(at + 4, `type of section ${index}`);
    const offset = r.u64(at + 24, `offset of section ${index}`);
    const size = r.u64(at + 32, `size of section ${index}`);
    const data = type === SectionType.NOBITS || type === SectionType.NULL ? new Uint8Array(0) : r.slice(offset, size, `data of section ${index}`);
    return {
      index,
      nameOffset: r.u32(at, `name of section ${index}`),
      type,
      flags: r.u64(at + 8, `flags of section ${index}`),
      link: r.u32(at + 40, `sh_link of section ${index}`),
      info: r.u32(at + 44, `sh_info of section ${index}`),
      entrySize: r.u64(at + 56, `sh_entsize of section ${index}`),
      data,
      size,
    };
  });
  const names = headers[namesIndex];
  if (!names || names.type !== SectionType.STRTAB) r.fail(62, `e_shstrndx ${namesIndex} is not a string table section`);
  const nameReader = new ByteReader(names.data, (offset, detail) => new ElfError(detail, { file, section: 'of section names', offset }));
  const sections: ElfSection[] = headers.map(({ nameOffset, ...header }) => ({
    ...header,
    name: nameReader.cString(nameOffset, 0, names.data.byteLength, `name of section ${header.index}`),
  }));

  const symbols = readSymbols(sections, file);
  const relocations = new Map<number, ElfRelocation[]>();
  for (const section of sections) {
    if (section.type === SectionType.RELA) {
      const target = sections[section.info];
      if (target && isExecutable(target)) throw new ElfError(`RELA relocations for code section ${target.name}: eBPF objects use REL`, { file, section: section.name });
      continue;
    }
    if (section.type !== SectionType.REL) continue;
    const target = sections[section.info];
    if (!target || section.info === 0) throw new ElfError(`sh_info ${section.info} names no section to relocate`, { file, section: section.name });
    relocations.set(section.info, [...(relocations.get(section.info) ?? []), ...readRelocations(section, symbols, file)]);
  }
  return { sections, symbols, relocations };
}

export function isExecutable(section: Pick<ElfSection, 'type' | 'flags'>): boolean {
  return section.type === SectionType.PROGBITS && (section.flags & SectionFlag.EXECINSTR) !== 0;
}

function readSymbols(sections: readonly ElfSection[], file: string | undefined): ElfSymbol[] {
  const tables = sections.filter((s) => s.type === SectionType.SYMTAB);
  if (tables.length === 0) return [];
  if (tables.length > 1) throw new ElfError(`${tables.length} symbol tables; an object has one`, { file, section: tables[1]!.name });
  const table = tables[0]!;
  const r = sectionReader(table, file);
  if (table.data.byteLength % SYMBOL_SIZE !== 0) r.fail(0, `size ${table.data.byteLength} is not a multiple of the ${SYMBOL_SIZE}-byte symbol entry`);
  const strings = sections[table.link];
  if (!strings || strings.type !== SectionType.STRTAB || table.link === 0) r.fail(0, `sh_link ${table.link} is not a string table section`);
  const names = sectionReader(strings, file);
  return Array.from({ length: table.data.byteLength / SYMBOL_SIZE }, (_, index) => {
    const at = index * SYMBOL_SIZE;
    const info = r.u8(at + 4, `st_info of symbol ${index}`);
    const section = r.u16(at + 6, `st_shndx of symbol ${index}`);
    if (section === SHN_XINDEX) r.fail(at + 6, `symbol ${index} uses extended section indexes (SHN_XINDEX), which eBPF objects do not need`);
    if (section < SHN_LORESERVE && section >= sections.length) r.fail(at + 6, `symbol ${index} is defined in section ${section}, which does not exist`);
    return {
      index,
      name: names.cString(r.u32(at, `st_name of symbol ${index}`), 0, strings.data.byteLength, `name of symbol ${index}`),
      bind: info >> 4,
      type: info & 0x0f,
      section,
      value: r.u64(at + 8, `st_value of symbol ${index}`),
      size: r.u64(at + 16, `st_size of symbol ${index}`),
    };
  });
}

function readRelocations(section: ElfSection, symbols: readonly ElfSymbol[], file: string | undefined): ElfRelocation[] {
  const r = sectionReader(section, file);
  if (section.data.byteLength % REL_SIZE !== 0) r.fail(0, `size ${section.data.byteLength} is not a multiple of the ${REL_SIZE}-byte REL entry`);
  return Array.from({ length: section.data.byteLength / REL_SIZE }, (_, i) => {
    const at = i * REL_SIZE;
    const symbolIndex = r.u32(at + 12, `symbol of relocation ${i}`);
    const symbol = symbols[symbolIndex];
    if (!symbol) r.fail(at + 12, `relocation ${i} refers to symbol ${symbolIndex}, but the symbol table has ${symbols.length}`);
    return { offset: r.u64(at, `r_offset of relocation ${i}`), type: r.u32(at + 8, `type of relocation ${i}`), symbol };
  });
}
