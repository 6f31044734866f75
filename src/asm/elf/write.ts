/**
 * Laying out an ELF64 little-endian relocatable object for EM_BPF: the
 * caller adds sections, symbols and relocations; `finish` appends the REL
 * sections, the symbol table and one string table for section and symbol
 * names (as LLVM does), and writes header, data and section headers.
 */
import { ByteWriter, StringTable } from '../btf/bytes.js';
import {
  EM_BPF,
  ELF_HEADER_SIZE,
  ELF_MAGIC,
  ELFCLASS64,
  ELFDATA2LSB,
  ET_REL,
  EV_CURRENT,
  REL_SIZE,
  SECTION_HEADER_SIZE,
  SYMBOL_SIZE,
  SectionFlag,
  SectionType,
  SymbolBind,
} from './constants.js';

export interface SectionSpec {
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  /** May be filled in later with setSectionData, for contents that depend on other sections. */
  readonly data: Uint8Array;
  readonly align: number;
}

export interface SymbolSpec {
  readonly name: string;
  /** STT_* */
  readonly type: number;
  /** STB_* */
  readonly bind: number;
  /** Index returned by addSection. */
  readonly section: number;
  readonly value: number;
  readonly size: number;
}

/** A symbol as added; its final index is known only once locals are sorted before globals. */
export type SymbolHandle = SymbolSpec;

interface Header {
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly data: Uint8Array;
  readonly align: number;
  readonly link: number;
  readonly info: number;
  readonly entrySize: number;
}

export class ElfBuilder {
  readonly #sections: { -readonly [K in keyof SectionSpec]: SectionSpec[K] }[] = [];
  readonly #symbols: SymbolSpec[] = [];
  readonly #relocations = new Map<number, { offset: number; type: number; symbol: SymbolHandle }[]>();

  /** Add a section; returns its index (the null section is 0, so the first is 1). */
  addSection(section: SectionSpec): number {
    this.#sections.push({ ...section });
    return this.#sections.length;
  }

  setSectionData(index: number, data: Uint8Array): void {
    this.#sections[index - 1]!.data = data;
  }

  addSymbol(symbol: SymbolSpec): SymbolHandle {
    this.#symbols.push(symbol);
    return symbol;
  }

  /** A REL entry patching `section` at byte `offset`. */
  addRelocation(section: number, offset: number, type: number, symbol: SymbolHandle): void {
    const list = this.#relocations.get(section) ?? [];
    list.push({ offset, type, symbol });
    this.#relocations.set(section, list);
  }

  finish(): Uint8Array {
    const strings = new StringTable();
    // Locals come first: sh_info of .symtab is the index of the first global.
    const ordered = [...this.#symbols.filter((s) => s.bind === SymbolBind.LOCAL), ...this.#symbols.filter((s) => s.bind !== SymbolBind.LOCAL)];
    const symbolIndex = new Map(ordered.map((s, i) => [s, i + 1]));
    const locals = 1 + this.#symbols.filter((s) => s.bind === SymbolBind.LOCAL).length;

    const headers: Header[] = this.#sections.map((s) => ({ ...s, link: 0, info: 0, entrySize: 0 }));
    const symtabIndex = headers.length + this.#relocations.size + 1;
    const strtabIndex = symtabIndex + 1;
    for (const [target, entries] of [...this.#relocations].sort(([a], [b]) => a - b)) {
      const data = new ByteWriter();
      for (const r of [...entries].sort((a, b) => a.offset - b.offset)) {
        data.u64(r.offset).u64((BigInt(symbolIndex.get(r.symbol)!) << 32n) | BigInt(r.type));
      }
      headers.push({
        name: `.rel${this.#sections[target - 1]!.name}`,
        type: SectionType.REL,
        flags: SectionFlag.INFO_LINK,
        data: data.finish(),
        align: 8,
        link: symtabIndex,
        info: target,
        entrySize: REL_SIZE,
      });
    }
    const symtab = new ByteWriter().bytes(new Uint8Array(SYMBOL_SIZE));
    for (const s of ordered) {
      symtab.u32(strings.add(s.name)).u8((s.bind << 4) | s.type).u8(0).u16(s.section).u64(s.value).u64(s.size);
    }
    headers.push({ name: '.symtab', type: SectionType.SYMTAB, flags: 0, data: symtab.finish(), align: 8, link: strtabIndex, info: locals, entrySize: SYMBOL_SIZE });
    const nameOffsets = headers.map((h) => strings.add(h.name));
    const strtabName = strings.add('.strtab');
    headers.push({ name: '.strtab', type: SectionType.STRTAB, flags: 0, data: strings.finish(), align: 1, link: 0, info: 0, entrySize: 0 });
    nameOffsets.push(strtabName);

    const out = new ByteWriter().bytes(new Uint8Array(ELF_HEADER_SIZE));
    const offsets = headers.map((h) => {
      out.align(h.align);
      const at = out.length;
      out.bytes(h.data);
      return at;
    });
    out.align(8);
    const sectionTable = out.length;
    out.bytes(new Uint8Array(SECTION_HEADER_SIZE));
    headers.forEach((h, i) => {
      out.u32(nameOffsets[i]!).u32(h.type).u64(h.flags).u64(0).u64(offsets[i]!).u64(h.data.byteLength);
      out.u32(h.link).u32(h.info).u64(h.align).u64(h.entrySize);
    });

    const bytes = out.finish();
    const view = new DataView(bytes.buffer);
    bytes.set([...ELF_MAGIC, ELFCLASS64, ELFDATA2LSB, EV_CURRENT], 0);
    view.setUint16(16, ET_REL, true);
    view.setUint16(18, EM_BPF, true);
    view.setUint32(20, EV_CURRENT, true);
    view.setBigUint64(40, BigInt(sectionTable), true);
    view.setUint16(52, ELF_HEADER_SIZE, true);
    view.setUint16(58, SECTION_HEADER_SIZE, true);
    view.setUint16(60, headers.length + 1, true);
    view.setUint16(62, strtabIndex, true);
    return bytes;
  }
}
