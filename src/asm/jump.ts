import type { Instruction } from './instruction.js';
import { opcode } from './instruction.js';
import type { CondJmpOpName } from './opcodes.js';
import { isReg, type Operand } from './operand.js';

/** `if dst op src goto +off`, comparing 64-bit (wide) or 32-bit values. */
export function jcond(op: CondJmpOpName, wide: boolean, dst: number, src: Operand, off: number): Instruction {
  return isReg(src)
    ? { code: opcode.jmp(wide, op, 'X'), dst, src: src.reg, off, imm: 0 }
    : { code: opcode.jmp(wide, op, 'K'), dst, src: 0, off, imm: src.imm };
}

/** `goto +off` with a 16-bit offset. */
export function ja(off: number): Instruction {
  return { code: opcode.jmp(true, 'JA', 'K'), dst: 0, src: 0, off, imm: 0 };
}

/** `gotol +imm`: JMP32 ja with a 32-bit offset (ISA v4). */
export function gotol(imm: number): Instruction {
  return { code: opcode.jmp(false, 'JA', 'K'), dst: 0, src: 0, off: 0, imm };
}
