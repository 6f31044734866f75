/**
 * Spelling of instructions in the ubpf / bpf_conformance text syntax, shared
 * by the parser (text/ubpf.ts) and the printer (disasm/ubpf.ts) so that what
 * one prints the other reads. Names come from the opcode table; only the
 * syntax words (`ldx`, `movsx`, `lock`, the `32` suffix) are written here.
 */
import type { Form } from '../instruction.js';
import {
  AluOp,
  AtomicOp,
  BINARY_ALU_OPS,
  CallSrc,
  CONDITIONAL_JMP_OPS,
  JmpOp,
  MOVSX_BITS,
  PseudoSrc,
  Size,
  SWAP_BITS,
  type AtomicOpName,
  type CallSrcName,
  type PseudoSrcName,
  type SizeName,
} from '../opcodes.js';

/** 32-bit class variants (ALU, JMP32, 32-bit atomics) carry this suffix. */
const NARROW_SUFFIX = '32';
const narrow = (wide: boolean): string => (wide ? '' : NARROW_SUFFIX);

/** Legacy packet loads have no 64-bit size. */
const PACKET_SIZES = ['W', 'H', 'B'] as const satisfies readonly SizeName[];

/** The mnemonic of an instruction form; for atomics it includes the `lock` prefix. */
export function ubpfMnemonic(form: Form): string {
  switch (form.kind) {
    case 'alu': {
      const info = AluOp[form.op];
      const name = form.signed && 'signed' in info ? info.signed.mnemonic : info.mnemonic;
      return name + narrow(form.wide);
    }
    case 'movsx':
      // Source width, then destination width: movsx832 sign-extends a byte into a 32-bit register.
      return `movsx${form.bits}${form.wide ? 64 : 32}`;
    case 'neg':
      return AluOp.NEG.mnemonic + narrow(form.wide);
    case 'end':
      return `${form.order}${form.bits}`;
    case 'jcond':
      return JmpOp[form.op].mnemonic + narrow(form.wide);
    case 'ja':
      return JmpOp.JA.mnemonic;
    case 'gotol':
      return JmpOp.JA.mnemonic + NARROW_SUFFIX;
    case 'call':
    case 'callx':
      return JmpOp.CALL.mnemonic;
    case 'exit':
      return JmpOp.EXIT.mnemonic;
    case 'ld_imm64':
      return `ld${Size.DW.suffix}`;
    case 'ld_abs':
      return `ldabs${Size[form.size].suffix}`;
    case 'ld_ind':
      return `ldind${Size[form.size].suffix}`;
    case 'ldx':
      return `ldx${form.signExtend ? 's' : ''}${Size[form.size].suffix}`;
    case 'st':
      return `st${Size[form.size].suffix}`;
    case 'stx':
      return `stx${Size[form.size].suffix}`;
    case 'atomic': {
      const info = AtomicOp[form.op];
      // xchg and cmpxchg always fetch, so `fetch` is spelled only where it selects a variant.
      const fetch = form.fetch && !info.alwaysFetch ? 'fetch ' : '';
      return `lock ${fetch}${info.mnemonic}${form.size === 'W' ? NARROW_SUFFIX : ''}`;
    }
  }
}

/**
 * One form per mnemonic. Fields the mnemonic does not decide (the operand
 * source of ALU and jumps, the call target, the ld_imm64 pseudo source) hold
 * a placeholder that the parser replaces from the operands.
 */
function allForms(): Form[] {
  const forms: Form[] = [];
  for (const wide of [true, false]) {
    for (const op of BINARY_ALU_OPS) {
      forms.push({ kind: 'alu', wide, op, source: 'K', signed: false });
      if ('signed' in AluOp[op]) forms.push({ kind: 'alu', wide, op, source: 'K', signed: true });
    }
    for (const bits of MOVSX_BITS) if (wide || bits !== 32) forms.push({ kind: 'movsx', wide, bits });
    forms.push({ kind: 'neg', wide });
    for (const op of CONDITIONAL_JMP_OPS) forms.push({ kind: 'jcond', wide, op, source: 'K' });
  }
  for (const order of ['le', 'be', 'bswap'] as const) for (const bits of SWAP_BITS) forms.push({ kind: 'end', order, bits });
  forms.push({ kind: 'ja' }, { kind: 'gotol' }, { kind: 'call', target: 'HELPER' }, { kind: 'exit' }, { kind: 'ld_imm64', pseudo: 'IMM' });
  for (const size of PACKET_SIZES) forms.push({ kind: 'ld_abs', size }, { kind: 'ld_ind', size });
  for (const size of Object.keys(Size) as SizeName[]) {
    forms.push({ kind: 'ldx', size, signExtend: false }, { kind: 'st', size }, { kind: 'stx', size });
    if (size !== 'DW') forms.push({ kind: 'ldx', size, signExtend: true });
  }
  for (const op of Object.keys(AtomicOp) as AtomicOpName[]) {
    for (const size of ['W', 'DW'] as const) {
      forms.push({ kind: 'atomic', size, op, fetch: true });
      if (!AtomicOp[op].alwaysFetch) forms.push({ kind: 'atomic', size, op, fetch: false });
    }
  }
  return forms;
}

/**
 * Mnemonic to form. Besides the printed spellings, the parser accepts
 * `swapN`, the conformance suite's older name for the unconditional byte swap.
 */
export const UBPF_MNEMONICS: ReadonlyMap<string, Form> = (() => {
  const table = new Map<string, Form>();
  for (const form of allForms()) table.set(ubpfMnemonic(form), form);
  for (const bits of SWAP_BITS) table.set(`swap${bits}`, { kind: 'end', order: 'bswap', bits });
  return table;
})();

/** Mode words of `call MODE TARGET`; a call without one calls a helper. `runtime` is the suite's word for kfunc. */
export const CALL_MODES: ReadonlyMap<string, CallSrcName> = new Map([
  ...(Object.keys(CallSrc) as CallSrcName[]).map((name) => [name.toLowerCase(), name] as const),
  ['runtime', 'KFUNC'],
]);

/** Pseudo-source words of `lddw %rD, WORD imm[, imm2]` for ld_imm64 the kernel resolves (map fd, BTF id, …). */
export const PSEUDO_WORDS: ReadonlyMap<string, PseudoSrcName> = new Map(
  (Object.keys(PseudoSrc) as PseudoSrcName[]).filter((name) => name !== 'IMM').map((name) => [name.toLowerCase(), name] as const),
);

export const formatRegister = (reg: number): string => `%r${reg}`;

/** `[%r1+8]`, `[%r10-8]`, `[%r1]`. */
export const formatMemory = (reg: number, off: number): string =>
  off === 0 ? `[${formatRegister(reg)}]` : `[${formatRegister(reg)}${off > 0 ? '+' : ''}${off}]`;

/** A relative jump or call offset, always signed: `+3`, `-2`, `+0`. */
export const formatRelative = (offset: number): string => (offset >= 0 ? `+${offset}` : `${offset}`);
