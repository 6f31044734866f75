import { atomic, ldAbs, ldImm64, ldInd, ldx, st, stx } from '../load_store.js';
import { AtomicOp, Size, type AtomicOpName, type SizeName } from '../opcodes.js';
import { BranchBuilder } from './branches.js';
import type { Entry } from './callsite.js';
import { offsetProblem, storeImmediateProblem } from './operands.js';
import type { AnyReg, AnyReg64, Reg64, WritableReg } from './registers.js';

/** Access types as in LLVM's `*(u16 *)(r1 + 2)`: u = zero-extending, s = sign-extending (loads only). */
export type LoadType = 'u8' | 'u16' | 'u32' | 'u64' | 's8' | 's16' | 's32';
export type StoreType = 'u8' | 'u16' | 'u32' | 'u64';
export type AtomicType = 'u32' | 'u64';
export type LegacyLoadType = 'u8' | 'u16' | 'u32';
/** Read-modify-write operations that may or may not return the old value. */
export type AtomicArithmetic = 'add' | 'or' | 'and' | 'xor';

interface Access {
  readonly size: SizeName;
  readonly bytes: 1 | 2 | 4 | 8;
  readonly signed: boolean;
}

/** `u16` -> { size: 'H', bytes: 2, signed: false }, for every size of the opcode table and both signs. */
const ACCESS_BY_TYPE = new Map<string, Access>(
  Object.entries(Size).flatMap(([size, info]) =>
    (['u', 's'] as const).map((sign): [string, Access] => [`${sign}${info.bytes * 8}`, { size: size as SizeName, bytes: info.bytes, signed: sign === 's' }]),
  ),
);

/** Memory access: loads, stores, atomics, 64-bit immediates and legacy packet loads. */
export class MemoryBuilder extends BranchBuilder {
  /** `dst = *(type *)(base + off)`; s8/s16/s32 sign-extend (ISA v4). */
  ldx(type: LoadType, dst: WritableReg, base: AnyReg64, off: number): this {
    const entry = this.ldx;
    const access = this.access(entry, type, 'load');
    if (access.signed && access.bytes === 8) this.fail(entry, 'there is no 64-bit sign-extending load (s64); a u64 load already fills the register');
    const d = this.destination(entry, dst);
    const b = this.pointer(entry, base, 'base');
    return this.push(entry, ldx(access.size, d.index, b.index, this.offset(entry, off), access.signed));
  }

  /** `*(type *)(base + off) = imm` */
  st(type: StoreType, base: AnyReg64, off: number, imm: number): this {
    const entry = this.st;
    const access = this.unsignedAccess(entry, type, 'store');
    const b = this.pointer(entry, base, 'base');
    const problem = storeImmediateProblem(imm, access.bytes);
    if (problem) this.fail(entry, problem);
    return this.push(entry, st(access.size, b.index, this.offset(entry, off), imm | 0));
  }

  /** `*(type *)(base + off) = src` */
  stx(type: StoreType, base: AnyReg64, off: number, src: AnyReg): this {
    const entry = this.stx;
    const access = this.unsignedAccess(entry, type, 'store');
    const b = this.pointer(entry, base, 'base');
    const s = this.register(entry, src, 'stored register');
    return this.push(entry, stx(access.size, b.index, s.index, this.offset(entry, off)));
  }

  /** `lock *(type *)(base + off) op= src` */
  atomic(op: AtomicArithmetic, type: AtomicType, base: AnyReg64, off: number, src: AnyReg): this {
    return this.rmw(this.atomic, op, false, type, base, off, this.register(this.atomic, src, 'atomic operand'));
  }

  /** `src = atomic_fetch_<op>((type *)(base + off), src)`: like atomic, and src receives the old value. */
  atomicFetch(op: AtomicArithmetic, type: AtomicType, base: AnyReg64, off: number, src: WritableReg): this {
    return this.rmw(this.atomicFetch, op, true, type, base, off, this.destination(this.atomicFetch, src, 'atomic operand'));
  }

  /** `src = xchg((type *)(base + off), src)` */
  xchg(type: AtomicType, base: AnyReg64, off: number, src: WritableReg): this {
    return this.rmw(this.xchg, 'xchg', true, type, base, off, this.destination(this.xchg, src, 'exchanged register'));
  }

  /** `r0 = cmpxchg((type *)(base + off), r0, src)`: store src if the memory equals r0; r0 receives the old value. */
  cmpxchg(type: AtomicType, base: AnyReg64, off: number, src: AnyReg): this {
    return this.rmw(this.cmpxchg, 'cmpxchg', true, type, base, off, this.register(this.cmpxchg, src, 'new value'));
  }

  /** `dst = value` for any 64-bit constant (two instruction slots). */
  ldImm64(dst: Reg64, value: bigint | number): this {
    const entry = this.ldImm64;
    const d = this.destination(entry, dst);
    if (d.bits !== 64) this.fail(entry, `ldImm64 loads a 64-bit value; use r${d.index}, not ${d}`);
    if (typeof value === 'number' && !Number.isSafeInteger(value)) this.fail(entry, `ldImm64 value ${value} is not a safe integer; pass a bigint`);
    const wide = BigInt(value);
    if (wide < -(1n << 63n) || wide >= 1n << 64n) this.fail(entry, `ldImm64 value ${wide} does not fit in 64 bits`);
    return this.push(entry, ldImm64(d.index, wide));
  }

  /** Legacy socket-filter load `r0 = ntoh(*(type *)skb[offset])`; clobbers r1-r5. */
  ldAbs(type: LegacyLoadType, offset: number): this {
    const entry = this.ldAbs;
    const access = this.legacyAccess(entry, type);
    return this.push(entry, ldAbs(access, this.immediate(entry, offset, 32)));
  }

  /** Legacy socket-filter load `r0 = ntoh(*(type *)skb[src + offset])`; clobbers r1-r5. */
  ldInd(type: LegacyLoadType, src: AnyReg64, offset: number): this {
    const entry = this.ldInd;
    const access = this.legacyAccess(entry, type);
    const s = this.pointer(entry, src, 'index register');
    return this.push(entry, ldInd(access, s.index, this.immediate(entry, offset, 32)));
  }

  private rmw(entry: Entry, op: AtomicArithmetic | 'xchg' | 'cmpxchg', fetch: boolean, type: AtomicType, base: AnyReg64, off: number, src: AnyReg): this {
    const name = op.toUpperCase() as AtomicOpName;
    if (!(name in AtomicOp)) this.fail(entry, `'${op}' is not an atomic operation (${Object.values(AtomicOp).map((o) => o.mnemonic).join(', ')})`);
    const access = this.unsignedAccess(entry, type, 'atomic access');
    if (access.size !== 'W' && access.size !== 'DW') this.fail(entry, `atomic operations are 32 or 64 bit only, not ${type}`);
    const b = this.pointer(entry, base, 'base');
    return this.push(entry, atomic(access.size, name, fetch, b.index, src.index, this.offset(entry, off)));
  }

  private access(entry: Entry, type: unknown, what: string): Access {
    const access = typeof type === 'string' ? ACCESS_BY_TYPE.get(type) : undefined;
    if (!access) return this.fail(entry, `${what} type '${String(type)}' is not one of u8, u16, u32, u64, s8, s16, s32`);
    return access;
  }

  private unsignedAccess(entry: Entry, type: unknown, what: string): Access {
    const access = this.access(entry, type, what);
    if (access.signed) this.fail(entry, `${what} type '${String(type)}': only loads sign-extend; use u${access.bytes * 8}`);
    return access;
  }

  private legacyAccess(entry: Entry, type: unknown): Exclude<SizeName, 'DW'> {
    const access = this.unsignedAccess(entry, type, 'legacy packet load');
    if (access.size === 'DW') this.fail(entry, 'legacy packet loads (ld_abs, ld_ind) are 8, 16 or 32 bit, not u64');
    return access.size;
  }

  private offset(entry: Entry, off: unknown): number {
    const problem = offsetProblem(off, 'offset');
    if (problem) this.fail(entry, problem);
    return off as number;
  }
}
