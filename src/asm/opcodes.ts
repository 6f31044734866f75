/**
 * The eBPF instruction set (RFC 9669) as data. Every other part of bpfgen
 * (encoder, decoder, validator, disassembler, text assemblers, DSL) reads
 * these tables instead of repeating opcode numbers, so a value is written
 * exactly once, here.
 */

/** Bit masks of the 8-bit opcode field. */
export const Mask = {
  CLASS: 0x07,
  SOURCE: 0x08,
  OP: 0xf0,
  SIZE: 0x18,
  MODE: 0xe0,
} as const;

export const InsnClass = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;
export type InsnClassName = keyof typeof InsnClass;

/** Operand source for ALU and JMP classes: immediate (K) or register (X). */
export const Source = {
  K: 0x00,
  X: 0x08,
} as const;

export interface AluOpInfo {
  readonly value: number;
  /** ubpf/conformance mnemonic, e.g. `add` (`add32` for the 32-bit class). */
  readonly mnemonic: string;
  /** LLVM pseudo-C compound operator without the `=`, e.g. `+` for `r1 += r2`. */
  readonly symbol: string;
  /** Signed variant selected by offset 1 (RFC 9669 §4.1: sdiv, smod). */
  readonly signed?: { readonly mnemonic: string; readonly symbol: string };
}

export const AluOp = {
  ADD: { value: 0x00, mnemonic: 'add', symbol: '+' },
  SUB: { value: 0x10, mnemonic: 'sub', symbol: '-' },
  MUL: { value: 0x20, mnemonic: 'mul', symbol: '*' },
  DIV: { value: 0x30, mnemonic: 'div', symbol: '/', signed: { mnemonic: 'sdiv', symbol: 's/' } },
  OR: { value: 0x40, mnemonic: 'or', symbol: '|' },
  AND: { value: 0x50, mnemonic: 'and', symbol: '&' },
  LSH: { value: 0x60, mnemonic: 'lsh', symbol: '<<' },
  RSH: { value: 0x70, mnemonic: 'rsh', symbol: '>>' },
  NEG: { value: 0x80, mnemonic: 'neg', symbol: '-' },
  MOD: { value: 0x90, mnemonic: 'mod', symbol: '%', signed: { mnemonic: 'smod', symbol: 's%' } },
  XOR: { value: 0xa0, mnemonic: 'xor', symbol: '^' },
  MOV: { value: 0xb0, mnemonic: 'mov', symbol: '' },
  ARSH: { value: 0xc0, mnemonic: 'arsh', symbol: 's>>' },
  END: { value: 0xd0, mnemonic: 'end', symbol: '' },
} as const satisfies Record<string, AluOpInfo>;
export type AluOpName = keyof typeof AluOp;

/** ALU operations that take two operands and print as `dst op= src`. */
export const BINARY_ALU_OPS = ['ADD', 'SUB', 'MUL', 'DIV', 'OR', 'AND', 'LSH', 'RSH', 'MOD', 'XOR', 'MOV', 'ARSH'] as const;
export type BinaryAluOpName = (typeof BINARY_ALU_OPS)[number];

/** Sign-extending moves: MOV with offset 8, 16 or 32 (RFC 9669 §4.1). */
export const MOVSX_BITS = [8, 16, 32] as const;
export type MovsxBits = (typeof MOVSX_BITS)[number];

export interface JmpOpInfo {
  readonly value: number;
  readonly mnemonic: string;
  /** LLVM pseudo-C comparison operator; empty for non-conditional ops. */
  readonly symbol: string;
}

export const JmpOp = {
  JA: { value: 0x00, mnemonic: 'ja', symbol: '' },
  JEQ: { value: 0x10, mnemonic: 'jeq', symbol: '==' },
  JGT: { value: 0x20, mnemonic: 'jgt', symbol: '>' },
  JGE: { value: 0x30, mnemonic: 'jge', symbol: '>=' },
  JSET: { value: 0x40, mnemonic: 'jset', symbol: '&' },
  JNE: { value: 0x50, mnemonic: 'jne', symbol: '!=' },
  JSGT: { value: 0x60, mnemonic: 'jsgt', symbol: 's>' },
  JSGE: { value: 0x70, mnemonic: 'jsge', symbol: 's>=' },
  CALL: { value: 0x80, mnemonic: 'call', symbol: '' },
  EXIT: { value: 0x90, mnemonic: 'exit', symbol: '' },
  JLT: { value: 0xa0, mnemonic: 'jlt', symbol: '<' },
  JLE: { value: 0xb0, mnemonic: 'jle', symbol: '<=' },
  JSLT: { value: 0xc0, mnemonic: 'jslt', symbol: 's<' },
  JSLE: { value: 0xd0, mnemonic: 'jsle', symbol: 's<=' },
} as const satisfies Record<string, JmpOpInfo>;
export type JmpOpName = keyof typeof JmpOp;

/** Conditional jumps, the ones that compare dst with src or imm. */
export const CONDITIONAL_JMP_OPS = [
  'JEQ', 'JGT', 'JGE', 'JSET', 'JNE', 'JSGT', 'JSGE', 'JLT', 'JLE', 'JSLT', 'JSLE',
] as const;
export type CondJmpOpName = (typeof CONDITIONAL_JMP_OPS)[number];

export interface SizeInfo {
  readonly value: number;
  readonly bytes: 1 | 2 | 4 | 8;
  /** ubpf mnemonic suffix: `ldxw`, `stxdw`. */
  readonly suffix: string;
}

export const Size = {
  W: { value: 0x00, bytes: 4, suffix: 'w' },
  H: { value: 0x08, bytes: 2, suffix: 'h' },
  B: { value: 0x10, bytes: 1, suffix: 'b' },
  DW: { value: 0x18, bytes: 8, suffix: 'dw' },
} as const satisfies Record<string, SizeInfo>;
export type SizeName = keyof typeof Size;

export const Mode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;
export type ModeName = keyof typeof Mode;

/** Set in an atomic operation's imm to return the old value (RFC 9669 §5.3). */
export const ATOMIC_FETCH = 0x01;

export interface AtomicOpInfo {
  readonly value: number;
  readonly mnemonic: string;
  /** LLVM operator of the non-fetching form: `lock *(u64 *)(r1 + 0) += r2`. */
  readonly symbol: string;
  /** The operation only exists with FETCH set (xchg, cmpxchg). */
  readonly alwaysFetch: boolean;
}

export const AtomicOp = {
  ADD: { value: 0x00, mnemonic: 'add', symbol: '+', alwaysFetch: false },
  OR: { value: 0x40, mnemonic: 'or', symbol: '|', alwaysFetch: false },
  AND: { value: 0x50, mnemonic: 'and', symbol: '&', alwaysFetch: false },
  XOR: { value: 0xa0, mnemonic: 'xor', symbol: '^', alwaysFetch: false },
  XCHG: { value: 0xe0 | ATOMIC_FETCH, mnemonic: 'xchg', symbol: '', alwaysFetch: true },
  CMPXCHG: { value: 0xf0 | ATOMIC_FETCH, mnemonic: 'cmpxchg', symbol: '', alwaysFetch: true },
} as const satisfies Record<string, AtomicOpInfo>;
export type AtomicOpName = keyof typeof AtomicOp;

/** Meaning of the src field of a 64-bit immediate load (RFC 9669 §5.4, kernel UAPI BPF_PSEUDO_*). */
export const PseudoSrc = {
  IMM: 0,
  MAP_FD: 1,
  MAP_VALUE: 2,
  BTF_ID: 3,
  FUNC: 4,
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
} as const;
export type PseudoSrcName = keyof typeof PseudoSrc;

/** Meaning of the src field of a call (RFC 9669 §4.3.1, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL). */
export const CallSrc = {
  HELPER: 0,
  LOCAL: 1,
  KFUNC: 2,
} as const;
export type CallSrcName = keyof typeof CallSrc;

/** Byte-swap widths accepted in the imm of an END instruction. */
export const SWAP_BITS = [16, 32, 64] as const;
export type SwapBits = (typeof SWAP_BITS)[number];

/** Registers: r0..r9 general purpose, r10 the read-only frame pointer. */
export const REGISTER_COUNT = 11;
export const FRAME_POINTER = 10;

/** Opcode of ld_imm64, the only instruction that takes two 8-byte slots. */
export const LD_IMM64_CODE = InsnClass.LD | Mode.IMM | Size.DW.value;

/** Largest program the kernel accepts for privileged loaders (BPF_COMPLEXITY_LIMIT_INSNS). */
export const MAX_PROGRAM_INSNS = 1_000_000;

/** Reverse lookups, derived once from the tables above. */
function byValue<T extends { value: number }>(table: Record<string, T>): Map<number, [string, T]> {
  const out = new Map<number, [string, T]>();
  for (const [name, info] of Object.entries(table)) out.set(info.value, [name, info]);
  return out;
}
function nameByValue(table: Record<string, number>): Map<number, string> {
  return new Map(Object.entries(table).map(([name, value]) => [value, name]));
}

export const aluOpByValue = byValue<AluOpInfo>(AluOp) as Map<number, [AluOpName, AluOpInfo]>;
export const jmpOpByValue = byValue<JmpOpInfo>(JmpOp) as Map<number, [JmpOpName, JmpOpInfo]>;
export const sizeByValue = byValue<SizeInfo>(Size) as Map<number, [SizeName, SizeInfo]>;
export const atomicOpByValue = byValue<AtomicOpInfo>(AtomicOp) as Map<number, [AtomicOpName, AtomicOpInfo]>;
export const classByValue = nameByValue(InsnClass) as Map<number, InsnClassName>;
export const modeByValue = nameByValue(Mode) as Map<number, ModeName>;
export const pseudoSrcByValue = nameByValue(PseudoSrc) as Map<number, PseudoSrcName>;
export const callSrcByValue = nameByValue(CallSrc) as Map<number, CallSrcName>;

export function sizeByBytes(bytes: number): SizeName | undefined {
  for (const [name, info] of Object.entries(Size)) if (info.bytes === bytes) return name as SizeName;
  return undefined;
}
