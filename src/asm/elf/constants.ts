/**
 * The parts of ELF64 (the System V gABI, include/uapi/linux/elf.h) that
 * eBPF objects use: little-endian relocatable files for machine EM_BPF.
 */

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;
export const ET_REL = 1;
/** e_machine of eBPF (Linux, LLVM). */
export const EM_BPF = 247;

export const ELF_HEADER_SIZE = 64;
export const SECTION_HEADER_SIZE = 64;
export const SYMBOL_SIZE = 24;
export const REL_SIZE = 16;
export const RELA_SIZE = 24;

/** Section header types. */
export const SectionType = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  NOBITS: 8,
  REL: 9,
} as const;

/** Section header flags. */
export const SectionFlag = {
  WRITE: 0x1,
  ALLOC: 0x2,
  EXECINSTR: 0x4,
  /** sh_info of a relocation section names the section it patches. */
  INFO_LINK: 0x40,
} as const;

/** Special section indexes. */
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
/** The real index is elsewhere (section 0's sh_size / sh_link for counts, SHT_SYMTAB_SHNDX for symbols). */
export const SHN_XINDEX = 0xffff;

/** Symbol binding (high nibble of st_info). */
export const SymbolBind = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
/** Symbol type (low nibble of st_info). */
export const SymbolType = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;

/** eBPF relocation types (Documentation/bpf/llvm_reloc.rst). */
export const BpfRelocation = {
  R_BPF_NONE: 0,
  /** ld_imm64: a map, a global variable or a function address. */
  R_BPF_64_64: 1,
  R_BPF_64_ABS64: 2,
  R_BPF_64_ABS32: 3,
  /** Debug and BTF sections, resolved by no one at load time. */
  R_BPF_64_NODYLD32: 4,
  /** call: a bpf-to-bpf call or a kfunc. */
  R_BPF_64_32: 10,
} as const;
export type BpfRelocationName = keyof typeof BpfRelocation;

export const relocationNameByValue = new Map<number, BpfRelocationName>(
  Object.entries(BpfRelocation).map(([name, value]) => [value, name as BpfRelocationName]),
);
