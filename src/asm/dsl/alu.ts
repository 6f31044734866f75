import { alu, endian, movsx, neg } from '../alu.js';
import { AluOp, MOVSX_BITS, SWAP_BITS, type BinaryAluOpName, type MovsxBits, type SwapBits } from '../opcodes.js';
import { isReg } from '../operand.js';
import type { Entry } from './callsite.js';
import { Emitter } from './emitter.js';
import type { AnyReg32, AnyReg64, Register, WritableReg } from './registers.js';

/** The second operand that fits a destination: a register of the same width, or an immediate. */
export type SourceFor<D> = D extends Register<64, boolean> ? AnyReg64 | number : AnyReg32 | number;
/** A register of the same width as D. */
export type RegisterLike<D> = D extends Register<64, boolean> ? AnyReg64 : AnyReg32;

const SHIFTS: readonly BinaryAluOpName[] = ['LSH', 'RSH', 'ARSH'];
const DIVISIONS: readonly BinaryAluOpName[] = ['DIV', 'MOD'];

/**
 * Arithmetic. The destination's view selects the class: `add(r1, r2)` is
 * ALU64 (`r1 += r2`), `add(w1, w2)` is ALU (`w1 += w2`, upper half zeroed).
 */
export class AluBuilder extends Emitter {
  /** `dst = src` */
  mov<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.mov, 'MOV', dst, src);
  }
  /** `dst += src` */
  add<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.add, 'ADD', dst, src);
  }
  /** `dst -= src` */
  sub<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.sub, 'SUB', dst, src);
  }
  /** `dst *= src` */
  mul<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.mul, 'MUL', dst, src);
  }
  /** `dst /= src`, unsigned; division by zero yields 0 at run time. */
  div<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.div, 'DIV', dst, src);
  }
  /** `dst s/= src`, signed (ISA v4). */
  sdiv<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.sdiv, 'DIV', dst, src, true);
  }
  /** `dst %= src`, unsigned; modulo zero leaves dst unchanged at run time. */
  mod<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.mod, 'MOD', dst, src);
  }
  /** `dst s%= src`, signed (ISA v4). */
  smod<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.smod, 'MOD', dst, src, true);
  }
  /** `dst |= src` */
  or<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.or, 'OR', dst, src);
  }
  /** `dst &= src` */
  and<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.and, 'AND', dst, src);
  }
  /** `dst ^= src` */
  xor<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.xor, 'XOR', dst, src);
  }
  /** `dst <<= src` */
  lsh<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.lsh, 'LSH', dst, src);
  }
  /** `dst >>= src`, logical. */
  rsh<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.rsh, 'RSH', dst, src);
  }
  /** `dst s>>= src`, arithmetic. */
  arsh<D extends WritableReg>(dst: D, src: SourceFor<D>): this {
    return this.binary(this.arsh, 'ARSH', dst, src);
  }

  /** `dst = -dst` */
  neg(dst: WritableReg): this {
    const d = this.destination(this.neg, dst);
    return this.push(this.neg, neg(d.bits === 64, d.index));
  }

  /** `dst = (sN)src`: move the low `bits` of src, sign-extended (ISA v4; 32 only into a 64-bit register). */
  movsx<D extends WritableReg>(dst: D, src: RegisterLike<D>, bits: MovsxBits): this {
    const entry = this.movsx;
    const d = this.destination(entry, dst);
    const s = this.operand(entry, d, this.register(entry, src, 'movsx source'), 'movsx');
    const allowed = MOVSX_BITS.filter((b) => b < d.bits);
    if (!(allowed as readonly number[]).includes(bits)) {
      this.fail(entry, `movsx into ${d} sign-extends from ${allowed.join(', ')} bits, not ${bits}`);
    }
    return this.push(entry, movsx(d.bits === 64, d.index, isReg(s) ? s.reg : 0, bits));
  }

  /** `dst = htole<bits>(dst)`: a no-op on little-endian hosts apart from truncation to `bits`. */
  le(dst: WritableReg, bits: SwapBits): this {
    return this.swap(this.le, 'le', dst, bits);
  }
  /** `dst = htobe<bits>(dst)`: byte swap on little-endian hosts, truncating to `bits`. */
  be(dst: WritableReg, bits: SwapBits): this {
    return this.swap(this.be, 'be', dst, bits);
  }
  /** Unconditional byte swap of the low `bits` (ISA v4). */
  bswap(dst: WritableReg, bits: SwapBits): this {
    return this.swap(this.bswap, 'bswap', dst, bits);
  }

  private swap(entry: Entry, order: 'le' | 'be' | 'bswap', dst: WritableReg, bits: SwapBits): this {
    const d = this.destination(entry, dst);
    if (!(SWAP_BITS as readonly number[]).includes(bits)) this.fail(entry, `${order}${bits}: byte swap width must be ${SWAP_BITS.join(', ')}`);
    return this.push(entry, endian(order, bits, d.index));
  }

  private binary(entry: Entry, op: BinaryAluOpName, dst: WritableReg, src: unknown, signed = false): this {
    const info = AluOp[op];
    const mnemonic = signed && 'signed' in info ? info.signed.mnemonic : info.mnemonic;
    const d = this.destination(entry, dst);
    const s = this.operand(entry, d, src, mnemonic);
    if (!isReg(s)) {
      if (SHIFTS.includes(op) && (s.imm < 0 || s.imm >= d.bits)) {
        this.fail(entry, `${mnemonic} by ${s.imm}: a ${d.bits}-bit shift amount must be 0..${d.bits - 1}`);
      }
      if (DIVISIONS.includes(op) && s.imm === 0) this.fail(entry, `${mnemonic} by the constant 0 (the verifier rejects it)`);
    }
    return this.push(entry, alu(op, d.bits === 64, d.index, s, signed));
  }
}
