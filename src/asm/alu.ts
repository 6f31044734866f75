import type { Instruction } from './instruction.js';
import { opcode } from './instruction.js';
import type { BinaryAluOpName, MovsxBits, SwapBits } from './opcodes.js';
import { isReg, type Operand } from './operand.js';

/** `dst op= src` in 64-bit (wide) or 32-bit arithmetic; `signed` selects sdiv/smod. */
export function alu(op: BinaryAluOpName, wide: boolean, dst: number, src: Operand, signed = false): Instruction {
  const off = signed ? 1 : 0;
  return isReg(src)
    ? { code: opcode.alu(wide, op, 'X'), dst, src: src.reg, off, imm: 0 }
    : { code: opcode.alu(wide, op, 'K'), dst, src: 0, off, imm: src.imm };
}

/** `dst = (sN)src`: move with sign extension from the low `bits` of src. */
export function movsx(wide: boolean, dst: number, src: number, bits: MovsxBits): Instruction {
  return { code: opcode.alu(wide, 'MOV', 'X'), dst, src, off: bits, imm: 0 };
}

export function neg(wide: boolean, dst: number): Instruction {
  return { code: opcode.alu(wide, 'NEG', 'K'), dst, src: 0, off: 0, imm: 0 };
}

/**
 * Byte-order conversion: `le`/`be` convert host order to little/big endian
 * (ALU class), `bswap` swaps unconditionally (ALU64 class, ISA v4).
 */
export function endian(order: 'le' | 'be' | 'bswap', bits: SwapBits, dst: number): Instruction {
  const code = order === 'bswap' ? opcode.alu(true, 'END', 'K') : opcode.alu(false, 'END', order === 'be' ? 'X' : 'K');
  return { code, dst, src: 0, off: 0, imm: bits };
}
