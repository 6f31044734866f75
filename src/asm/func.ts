import type { Instruction } from './instruction.js';
import { opcode } from './instruction.js';
import { CallSrc } from './opcodes.js';

/** Call a kernel helper by its id (`enum bpf_func_id`). */
export function callHelper(id: number): Instruction {
  return { code: opcode.jmp(true, 'CALL', 'K'), dst: 0, src: CallSrc.HELPER, off: 0, imm: id };
}

/** Call a local function (bpf-to-bpf); imm is the offset in slots from the next instruction. */
export function callLocal(relative: number): Instruction {
  return { code: opcode.jmp(true, 'CALL', 'K'), dst: 0, src: CallSrc.LOCAL, off: 0, imm: relative };
}

/** Call a kernel function by BTF id; off selects a module BTF from fd_array (0 for vmlinux). */
export function callKfunc(btfId: number, btfFdIndex = 0): Instruction {
  return { code: opcode.jmp(true, 'CALL', 'K'), dst: 0, src: CallSrc.KFUNC, off: btfFdIndex, imm: btfId };
}

/**
 * Call the address held in `target` (LLVM's `callx`, the conformance suite's
 * `call %rN`). Not part of RFC 9669 and rejected by Linux; kept so that
 * such programs can be assembled and printed.
 */
export function callRegister(target: number): Instruction {
  return { code: opcode.jmp(true, 'CALL', 'X'), dst: target, src: 0, off: 0, imm: 0 };
}

export function exit(): Instruction {
  return { code: opcode.jmp(true, 'EXIT', 'K'), dst: 0, src: 0, off: 0, imm: 0 };
}
