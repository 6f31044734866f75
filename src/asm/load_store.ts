import type { Instruction } from './instruction.js';
import { opcode, splitImm64 } from './instruction.js';
import { AtomicOp, ATOMIC_FETCH, LD_IMM64_CODE, PseudoSrc, type AtomicOpName, type PseudoSrcName, type SizeName } from './opcodes.js';

/** `dst = *(size *)(src + off)`, optionally sign-extending (MEMSX, ISA v4). */
export function ldx(size: SizeName, dst: number, src: number, off: number, signExtend = false): Instruction {
  return { code: opcode.mem('LDX', signExtend ? 'MEMSX' : 'MEM', size), dst, src, off, imm: 0 };
}

/** `*(size *)(dst + off) = imm`. */
export function st(size: SizeName, dst: number, off: number, imm: number): Instruction {
  return { code: opcode.mem('ST', 'MEM', size), dst, src: 0, off, imm };
}

/** `*(size *)(dst + off) = src`. */
export function stx(size: SizeName, dst: number, src: number, off: number): Instruction {
  return { code: opcode.mem('STX', 'MEM', size), dst, src, off, imm: 0 };
}

/** Atomic read-modify-write on `*(size *)(dst + off)`; xchg and cmpxchg always fetch. */
export function atomic(size: 'W' | 'DW', op: AtomicOpName, fetch: boolean, dst: number, src: number, off: number): Instruction {
  const info = AtomicOp[op];
  const imm = info.alwaysFetch || fetch ? info.value | ATOMIC_FETCH : info.value;
  return { code: opcode.mem('STX', 'ATOMIC', size), dst, src, off, imm };
}

/** `dst = imm64` (two slots). */
export function ldImm64(dst: number, value: bigint): Instruction {
  return { code: LD_IMM64_CODE, dst, src: PseudoSrc.IMM, off: 0, ...splitImm64(value) };
}

/** ld_imm64 with a pseudo source the kernel resolves: map fd or index, map value, BTF id, function. */
export function ldPseudo(dst: number, pseudo: PseudoSrcName, imm: number, imm2 = 0): Instruction {
  return { code: LD_IMM64_CODE, dst, src: PseudoSrc[pseudo], off: 0, imm, imm2 };
}

/** Legacy socket-filter load `r0 = ntoh(*(size *)skb[imm])`. */
export function ldAbs(size: Exclude<SizeName, 'DW'>, imm: number): Instruction {
  return { code: opcode.mem('LD', 'ABS', size), dst: 0, src: 0, off: 0, imm };
}

/** Legacy socket-filter load `r0 = ntoh(*(size *)skb[src + imm])`. */
export function ldInd(size: Exclude<SizeName, 'DW'>, src: number, imm: number): Instruction {
  return { code: opcode.mem('LD', 'IND', size), dst: 0, src, off: 0, imm };
}
