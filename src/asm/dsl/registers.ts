import { FRAME_POINTER, REGISTER_COUNT } from '../opcodes.js';
import { DslError } from '../errors.js';
import { callerLocation } from './callsite.js';

export type RegisterBits = 32 | 64;

/**
 * A register operand. `bits` selects the 64-bit (`r1`) or 32-bit (`w1`)
 * instruction class; `writable` is false only for the frame pointer, so that
 * passing `r10` where a destination is expected fails to type-check.
 */
export class Register<Bits extends RegisterBits = RegisterBits, Writable extends boolean = boolean> {
  /** @internal Use the exported `r0`..`r10`, `w0`..`w10` or `reg(n)`. */
  constructor(
    readonly index: number,
    readonly bits: Bits,
    readonly writable: Writable,
  ) {}

  /** The 32-bit view of this register (`r1.w` is `w1`): operations on it use the 32-bit classes. */
  get w(): Register<32, Writable> {
    return VIEWS_32[this.index] as Register<32, Writable>;
  }

  toString(): string {
    return `${this.bits === 64 ? 'r' : 'w'}${this.index}`;
  }
}

/** A general-purpose register that may be written, 64-bit view. */
export type Reg64 = Register<64, true>;
/** A general-purpose register that may be written, 32-bit view. */
export type Reg32 = Register<32, true>;
/** Any destination register. */
export type WritableReg = Reg64 | Reg32;
/** Any register in its 64-bit view, including the read-only frame pointer. */
export type AnyReg64 = Register<64, boolean>;
/** Any register in its 32-bit view, including the read-only frame pointer. */
export type AnyReg32 = Register<32, boolean>;
export type AnyReg = AnyReg64 | AnyReg32;

const VIEWS_64 = Array.from({ length: REGISTER_COUNT }, (_, i) => new Register(i, 64, i !== FRAME_POINTER));
const VIEWS_32 = Array.from({ length: REGISTER_COUNT }, (_, i) => new Register(i, 32, i !== FRAME_POINTER));

export const r0 = VIEWS_64[0] as Reg64;
export const r1 = VIEWS_64[1] as Reg64;
export const r2 = VIEWS_64[2] as Reg64;
export const r3 = VIEWS_64[3] as Reg64;
export const r4 = VIEWS_64[4] as Reg64;
export const r5 = VIEWS_64[5] as Reg64;
export const r6 = VIEWS_64[6] as Reg64;
export const r7 = VIEWS_64[7] as Reg64;
export const r8 = VIEWS_64[8] as Reg64;
export const r9 = VIEWS_64[9] as Reg64;
/** The frame pointer: read-only, points just past the 512-byte stack. */
export const r10 = VIEWS_64[FRAME_POINTER] as Register<64, false>;

export const w0 = r0.w;
export const w1 = r1.w;
export const w2 = r2.w;
export const w3 = r3.w;
export const w4 = r4.w;
export const w5 = r5.w;
export const w6 = r6.w;
export const w7 = r7.w;
export const w8 = r8.w;
export const w9 = r9.w;
export const w10 = r10.w;

/** Register by number, for generated code; throws DslError outside r0-r10. */
export function reg(n: typeof FRAME_POINTER): Register<64, false>;
export function reg(n: number): Reg64;
export function reg(n: number): AnyReg64 {
  const register = Number.isInteger(n) ? VIEWS_64[n] : undefined;
  if (!register) throw new DslError(callerLocation(reg), `register ${n} does not exist (r0-r${FRAME_POINTER})`);
  return register;
}

/** One of the exported register objects (not a look-alike made with the constructor). */
export function isRegister(value: unknown): value is AnyReg {
  return value instanceof Register && (value.bits === 64 ? VIEWS_64 : VIEWS_32)[value.index] === value;
}
