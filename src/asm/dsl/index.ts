export { ProgramBuilder } from './calls.js';
export { buildWithSourceMapOnDemand } from './replay.js';
export type { BuilderOptions } from './emitter.js';
export type { SourceFor, RegisterLike } from './alu.js';
export type { AtomicArithmetic, AtomicType, LegacyLoadType, LoadType, StoreType } from './memory.js';
export {
  Register,
  reg,
  isRegister,
  r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10,
  w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10,
  type AnyReg,
  type AnyReg32,
  type AnyReg64,
  type Reg32,
  type Reg64,
  type WritableReg,
} from './registers.js';
