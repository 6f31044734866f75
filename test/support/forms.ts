import { alu, endian, movsx, neg } from '../../src/asm/alu.js';
import { callHelper, callKfunc, callLocal, callRegister, exit } from '../../src/asm/func.js';
import type { Instruction } from '../../src/asm/instruction.js';
import { gotol, ja, jcond } from '../../src/asm/jump.js';
import { atomic, ldAbs, ldImm64, ldInd, ldPseudo, ldx, st, stx } from '../../src/asm/load_store.js';
import {
  AtomicOp,
  BINARY_ALU_OPS,
  CONDITIONAL_JMP_OPS,
  MOVSX_BITS,
  PseudoSrc,
  SWAP_BITS,
  Size,
  type AtomicOpName,
  type PseudoSrcName,
  type SizeName,
} from '../../src/asm/opcodes.js';

/** One instance of every instruction form bpfgen supports, labelled, built through the public constructors. */
export function everyForm(): [string, Instruction][] {
  const out: [string, Instruction][] = [];
  for (const wide of [true, false]) {
    const w = wide ? '64' : '32';
    for (const op of BINARY_ALU_OPS) {
      out.push([`${op.toLowerCase()}${w} imm`, alu(op, wide, 1, { imm: -5 })]);
      out.push([`${op.toLowerCase()}${w} reg`, alu(op, wide, 1, { reg: 2 })]);
    }
    for (const op of ['DIV', 'MOD'] as const) {
      out.push([`s${op.toLowerCase()}${w} imm`, alu(op, wide, 3, { imm: 7 }, true)]);
      out.push([`s${op.toLowerCase()}${w} reg`, alu(op, wide, 3, { reg: 4 }, true)]);
    }
    for (const bits of MOVSX_BITS) if (wide || bits !== 32) out.push([`movsx${w} ${bits}`, movsx(wide, 1, 2, bits)]);
    out.push([`neg${w}`, neg(wide, 5)]);
    for (const op of CONDITIONAL_JMP_OPS) {
      out.push([`${op.toLowerCase()}${wide ? '' : '32'} imm`, jcond(op, wide, 1, { imm: 0x35 }, 3)]);
      out.push([`${op.toLowerCase()}${wide ? '' : '32'} reg`, jcond(op, wide, 1, { reg: 9 }, -2)]);
    }
  }
  for (const order of ['le', 'be', 'bswap'] as const) for (const bits of SWAP_BITS) out.push([`${order}${bits}`, endian(order, bits, 6)]);
  out.push(['ja', ja(4)], ['gotol', gotol(70000)], ['call helper', callHelper(1)], ['call local', callLocal(-3)]);
  out.push(['call kfunc', callKfunc(1234)], ['call kfunc in module', callKfunc(1234, 1)], ['callx', callRegister(3)], ['exit', exit()]);
  for (const size of Object.keys(Size) as SizeName[]) {
    out.push([`ldx ${size}`, ldx(size, 1, 2, -4)], [`st ${size}`, st(size, 10, -8, 0x7f)], [`stx ${size}`, stx(size, 10, 1, -8)]);
    if (size !== 'DW') {
      out.push([`ldxs ${size}`, ldx(size, 1, 2, 6, true)], [`ld_abs ${size}`, ldAbs(size, 12)], [`ld_ind ${size}`, ldInd(size, 7, 2)]);
    }
  }
  for (const size of ['W', 'DW'] as const) {
    for (const op of Object.keys(AtomicOp) as AtomicOpName[]) {
      out.push([`atomic ${size} ${op}`, atomic(size, op, false, 10, 1, -8)]);
      if (!AtomicOp[op].alwaysFetch) out.push([`atomic ${size} fetch ${op}`, atomic(size, op, true, 10, 1, -8)]);
    }
  }
  out.push(['ld_imm64', ldImm64(0, 0x1122334455667788n)]);
  for (const pseudo of Object.keys(PseudoSrc) as PseudoSrcName[]) {
    if (pseudo !== 'IMM') out.push([`ld_imm64 ${pseudo}`, ldPseudo(1, pseudo, 3, pseudo.endsWith('VALUE') ? 16 : 0)]);
  }
  return out;
}
