import {
  AluOp,
  ATOMIC_FETCH,
  FRAME_POINTER,
  InsnClass,
  JmpOp,
  LD_IMM64_CODE,
  Mask,
  Mode,
  Size,
  Source,
  aluOpByValue,
  atomicOpByValue,
  callSrcByValue,
  jmpOpByValue,
  pseudoSrcByValue,
  sizeByValue,
  type AtomicOpName,
  type BinaryAluOpName,
  type CallSrcName,
  type CondJmpOpName,
  type MovsxBits,
  type PseudoSrcName,
  type SizeName,
  type SwapBits,
} from './opcodes.js';

/**
 * One eBPF instruction as its raw fields. ld_imm64 is the one wide
 * instruction: it occupies two 8-byte slots and carries the second slot's
 * imm in `imm2`.
 */
export interface Instruction {
  readonly code: number;
  readonly dst: number;
  readonly src: number;
  /** Signed 16-bit. */
  readonly off: number;
  /** Signed 32-bit. */
  readonly imm: number;
  /** Signed 32-bit imm of the second slot; present exactly when the instruction is ld_imm64. */
  readonly imm2?: number;
}

export type Field = 'code' | 'dst' | 'src' | 'off' | 'imm' | 'imm2' | 'next.code' | 'next.dst' | 'next.src' | 'next.off';

/** An encoding that RFC 9669 does not define, located by slot index and field. */
export class EncodingError extends Error {
  constructor(
    readonly slot: number,
    readonly field: Field,
    readonly detail: string,
  ) {
    super(`instruction ${slot}: invalid ${field}: ${detail}`);
    this.name = 'EncodingError';
  }
}

/** The semantic shape of an instruction, derived from its opcode and the fields that select variants. */
export type Form =
  | { kind: 'alu'; wide: boolean; op: BinaryAluOpName; source: 'K' | 'X'; signed: boolean }
  | { kind: 'movsx'; wide: boolean; bits: MovsxBits }
  | { kind: 'neg'; wide: boolean }
  | { kind: 'end'; order: 'le' | 'be' | 'bswap'; bits: SwapBits }
  | { kind: 'jcond'; wide: boolean; op: CondJmpOpName; source: 'K' | 'X' }
  | { kind: 'ja' }
  | { kind: 'gotol' }
  | { kind: 'call'; target: CallSrcName }
  /** Call through a register: an LLVM and ubpf extension outside RFC 9669 that Linux rejects. */
  | { kind: 'callx' }
  | { kind: 'exit' }
  | { kind: 'ld_imm64'; pseudo: PseudoSrcName }
  | { kind: 'ld_abs'; size: SizeName }
  | { kind: 'ld_ind'; size: SizeName }
  | { kind: 'ldx'; size: SizeName; signExtend: boolean }
  | { kind: 'st'; size: SizeName }
  | { kind: 'stx'; size: SizeName }
  | { kind: 'atomic'; size: 'W' | 'DW'; op: AtomicOpName; fetch: boolean };

export const SLOT_BYTES = 8;

export function isWide(insn: Pick<Instruction, 'code'>): boolean {
  return insn.code === LD_IMM64_CODE;
}

/** Number of 8-byte slots the instruction occupies. */
export function slotCount(insn: Pick<Instruction, 'code'>): 1 | 2 {
  return isWide(insn) ? 2 : 1;
}

/** The 64-bit constant of an ld_imm64 with pseudo source IMM. */
export function imm64Of(insn: Instruction): bigint {
  return (BigInt(insn.imm2 ?? 0) << 32n) | BigInt(insn.imm >>> 0);
}

/** Split a 64-bit constant into the signed low and high imm halves of ld_imm64. */
export function splitImm64(value: bigint): { imm: number; imm2: number } {
  const v = BigInt.asUintN(64, value);
  return { imm: Number(BigInt.asIntN(32, v & 0xffffffffn)), imm2: Number(BigInt.asIntN(32, v >> 32n)) };
}

type Rule = 'used' | 'zero' | readonly number[];
interface FieldRules {
  dst: Rule;
  src: Rule;
  off: Rule;
  imm: Rule;
}

/** The field rules most forms share, made once rather than for every instruction classified. */
const R_DST: FieldRules = { dst: 'used', src: 'zero', off: 'zero', imm: 'zero' };
const R_DST_IMM: FieldRules = { dst: 'used', src: 'zero', off: 'zero', imm: 'used' };
const R_OFF: FieldRules = { dst: 'zero', src: 'zero', off: 'used', imm: 'zero' };
const R_IMM: FieldRules = { dst: 'zero', src: 'zero', off: 'zero', imm: 'used' };
const R_NONE: FieldRules = { dst: 'zero', src: 'zero', off: 'zero', imm: 'zero' };
const R_DST_SRC_OFF: FieldRules = { dst: 'used', src: 'used', off: 'used', imm: 'zero' };
const R_DST_OFF_IMM: FieldRules = { dst: 'used', src: 'zero', off: 'used', imm: 'used' };
const R_SRC_IMM: FieldRules = { dst: 'zero', src: 'used', off: 'zero', imm: 'used' };

function fail(slot: number, field: Field, detail: string): never {
  throw new EncodingError(slot, field, detail);
}

/** The opcode as error messages show it, `0x95`; built only when one is thrown. */
const opcodeHex = (code: number): string => `0x${code.toString(16).padStart(2, '0')}`;

const sizeName = (code: number): SizeName => sizeByValue.get(code & Mask.SIZE)![0];

/**
 * Classify an instruction and return which values each field may hold.
 * Throws EncodingError for opcodes and variant selectors RFC 9669 does not define.
 */
function analyse(insn: Instruction, slot: number): { form: Form; rules: FieldRules } {
  const code = insn.code;
  const cls = code & Mask.CLASS;
  const source = (code & Mask.SOURCE) === Source.X ? 'X' : 'K';

  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64: {
      const wide = cls === InsnClass.ALU64;
      const entry = aluOpByValue.get(code & Mask.OP);
      if (!entry) return fail(slot, 'code', `opcode ${opcodeHex(code)} has no ALU operation ${(code & Mask.OP) >> 4}`);
      const [op] = entry;
      if (op === 'NEG') {
        if (source === 'X') fail(slot, 'code', `opcode ${opcodeHex(code)}: neg takes no source operand (source bit must be K)`);
        return { form: { kind: 'neg', wide }, rules: R_DST };
      }
      if (op === 'END') {
        if (wide && source === 'X') fail(slot, 'code', `opcode ${opcodeHex(code)}: byte swap in ALU64 must use source K (bswap)`);
        const order = wide ? 'bswap' : source === 'X' ? 'be' : 'le';
        const bits = insn.imm as SwapBits;
        if (bits !== 16 && bits !== 32 && bits !== 64) fail(slot, 'imm', `byte swap width ${insn.imm} is not 16, 32 or 64`);
        return { form: { kind: 'end', order, bits }, rules: R_DST_IMM };
      }
      if (op === 'MOV' && source === 'X' && insn.off !== 0) {
        const bits = insn.off as MovsxBits;
        if (bits !== 8 && bits !== 16 && !(bits === 32 && wide)) {
          fail(slot, 'off', `mov offset ${insn.off} is not a sign-extension width (8, 16${wide ? ', 32' : ''})`);
        }
        return { form: { kind: 'movsx', wide, bits }, rules: { dst: 'used', src: 'used', off: [bits], imm: 'zero' } };
      }
      const signedCapable = op === 'DIV' || op === 'MOD';
      const form: Form = { kind: 'alu', wide, op: op as BinaryAluOpName, source, signed: signedCapable && insn.off === 1 };
      const off: Rule = signedCapable ? [0, 1] : 'zero';
      return source === 'X'
        ? { form, rules: { dst: 'used', src: 'used', off, imm: 'zero' } }
        : { form, rules: { dst: 'used', src: 'zero', off, imm: 'used' } };
    }

    case InsnClass.JMP:
    case InsnClass.JMP32: {
      const wide = cls === InsnClass.JMP;
      const entry = jmpOpByValue.get(code & Mask.OP);
      if (!entry) return fail(slot, 'code', `opcode ${opcodeHex(code)} has no jump operation ${(code & Mask.OP) >> 4}`);
      const [op] = entry;
      if (op === 'JA') {
        if (source === 'X') fail(slot, 'code', `opcode ${opcodeHex(code)}: ja takes no source operand`);
        return wide
          ? { form: { kind: 'ja' }, rules: R_OFF }
          : { form: { kind: 'gotol' }, rules: R_IMM };
      }
      if (op === 'CALL' || op === 'EXIT') {
        if (!wide) fail(slot, 'code', `opcode ${opcodeHex(code)}: ${op.toLowerCase()} exists only in the JMP class`);
        if (op === 'CALL' && source === 'X') {
          return { form: { kind: 'callx' }, rules: R_DST };
        }
        if (source === 'X') fail(slot, 'code', `opcode ${opcodeHex(code)}: ${op.toLowerCase()} takes no source register`);
        if (op === 'EXIT') return { form: { kind: 'exit' }, rules: R_NONE };
        const target = callSrcByValue.get(insn.src);
        if (!target) return fail(slot, 'src', `call source ${insn.src} is not helper (0), local (1) or kfunc (2)`);
        // A kfunc call's offset selects the module BTF in fd_array; other calls leave it zero.
        const off: Rule = target === 'KFUNC' ? 'used' : 'zero';
        return { form: { kind: 'call', target }, rules: { dst: 'zero', src: [insn.src], off, imm: 'used' } };
      }
      const form: Form = { kind: 'jcond', wide, op: op as CondJmpOpName, source };
      return source === 'X'
        ? { form, rules: R_DST_SRC_OFF }
        : { form, rules: R_DST_OFF_IMM };
    }

    case InsnClass.LD: {
      const mode = code & Mask.MODE;
      if (code === LD_IMM64_CODE) {
        const pseudo = pseudoSrcByValue.get(insn.src);
        if (!pseudo) return fail(slot, 'src', `ld_imm64 source ${insn.src} is not a known pseudo source (0-6)`);
        return { form: { kind: 'ld_imm64', pseudo }, rules: { dst: 'used', src: [insn.src], off: 'zero', imm: 'used' } };
      }
      const size = sizeName(code);
      if (mode === Mode.ABS || mode === Mode.IND) {
        if (size === 'DW') fail(slot, 'code', `opcode ${opcodeHex(code)}: legacy packet loads have no 64-bit size`);
        return mode === Mode.ABS
          ? { form: { kind: 'ld_abs', size }, rules: R_IMM }
          : { form: { kind: 'ld_ind', size }, rules: R_SRC_IMM };
      }
      return fail(slot, 'code', `opcode ${opcodeHex(code)}: the LD class has no mode 0x${mode.toString(16)} at this size`);
    }

    case InsnClass.LDX: {
      const mode = code & Mask.MODE;
      const size = sizeName(code);
      if (mode === Mode.MEM) return { form: { kind: 'ldx', size, signExtend: false }, rules: R_DST_SRC_OFF };
      if (mode === Mode.MEMSX) {
        if (size === 'DW') fail(slot, 'code', `opcode ${opcodeHex(code)}: sign-extending load has no 64-bit size`);
        return { form: { kind: 'ldx', size, signExtend: true }, rules: R_DST_SRC_OFF };
      }
      return fail(slot, 'code', `opcode ${opcodeHex(code)}: the LDX class has no mode 0x${mode.toString(16)}`);
    }

    case InsnClass.ST: {
      const mode = code & Mask.MODE;
      if (mode !== Mode.MEM) fail(slot, 'code', `opcode ${opcodeHex(code)}: the ST class has no mode 0x${mode.toString(16)}`);
      return { form: { kind: 'st', size: sizeName(code) }, rules: R_DST_OFF_IMM };
    }

    case InsnClass.STX:
    default: {
      const mode = code & Mask.MODE;
      const size = sizeName(code);
      if (mode === Mode.MEM) return { form: { kind: 'stx', size }, rules: R_DST_SRC_OFF };
      if (mode === Mode.ATOMIC) {
        if (size !== 'W' && size !== 'DW') fail(slot, 'code', `opcode ${opcodeHex(code)}: atomic operations are 32 or 64 bit only`);
        const fetch = (insn.imm & ATOMIC_FETCH) !== 0;
        const entry = atomicOpByValue.get(insn.imm) ?? atomicOpByValue.get(insn.imm & ~ATOMIC_FETCH);
        if (!entry || (entry[1].alwaysFetch && !fetch) || insn.imm < 0 || insn.imm > 0xff) {
          return fail(slot, 'imm', `0x${(insn.imm >>> 0).toString(16)} is not an atomic operation`);
        }
        return {
          form: { kind: 'atomic', size: size as 'W' | 'DW', op: entry[0], fetch },
          rules: { dst: 'used', src: 'used', off: 'used', imm: [insn.imm] },
        };
      }
      return fail(slot, 'code', `opcode ${opcodeHex(code)}: the STX class has no mode 0x${mode.toString(16)}`);
    }
  }
}

function checkRegister(slot: number, field: 'dst' | 'src', value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > FRAME_POINTER) {
    throw new EncodingError(slot, field, `register ${value} does not exist (r0-r10)`);
  }
}

/**
 * Classify and validate an instruction: the opcode must be defined, every
 * field the form does not use must be zero, and registers must be r0-r10.
 */
function checkField(slot: number, field: 'dst' | 'src' | 'off' | 'imm', rule: Rule, value: number): void {
  if (rule === 'used') return;
  if (rule === 'zero') {
    if (value !== 0) fail(slot, field, `must be 0 for this instruction, found ${value}`);
  } else if (!rule.includes(value)) {
    fail(slot, field, `${value} is not valid here (expected ${rule.join(' or ')})`);
  }
}

export function classify(insn: Instruction, slot = 0): Form {
  const { form, rules } = analyse(insn, slot);
  checkField(slot, 'dst', rules.dst, insn.dst);
  checkField(slot, 'src', rules.src, insn.src);
  checkField(slot, 'off', rules.off, insn.off);
  checkField(slot, 'imm', rules.imm, insn.imm);
  if (rules.dst === 'used') checkRegister(slot, 'dst', insn.dst);
  if (rules.src === 'used') checkRegister(slot, 'src', insn.src);
  if (form.kind === 'ld_imm64') {
    if (insn.imm2 === undefined) throw new EncodingError(slot, 'imm2', 'ld_imm64 is missing its second slot');
    if ((form.pseudo === 'MAP_FD' || form.pseudo === 'MAP_IDX') && insn.imm2 !== 0) {
      throw new EncodingError(slot, 'imm2', `must be 0 for a ${form.pseudo === 'MAP_FD' ? 'map fd' : 'map index'} load`);
    }
  } else if (insn.imm2 !== undefined) {
    throw new EncodingError(slot, 'imm2', 'only ld_imm64 has a second slot');
  }
  return form;
}

function writeSlot(view: DataView, at: number, code: number, dst: number, src: number, off: number, imm: number): void {
  view.setUint8(at, code);
  view.setUint8(at + 1, ((src & 0x0f) << 4) | (dst & 0x0f));
  view.setInt16(at + 2, off, true);
  view.setInt32(at + 4, imm, true);
}

/** Encode instructions as little-endian bytes, 8 per slot and 16 for ld_imm64. */
export function encode(insns: readonly Instruction[]): Uint8Array {
  let slots = 0;
  for (const insn of insns) slots += slotCount(insn);
  const bytes = new Uint8Array(slots * SLOT_BYTES);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const insn of insns) {
    writeSlot(view, at, insn.code, insn.dst, insn.src, insn.off, insn.imm);
    at += SLOT_BYTES;
    if (isWide(insn)) {
      writeSlot(view, at, 0, 0, 0, 0, insn.imm2 ?? 0);
      at += SLOT_BYTES;
    }
  }
  return bytes;
}

export interface DecodeOptions {
  /** Check each instruction with classify(); on by default. */
  validate?: boolean;
}

/** Decode little-endian bytes into instructions, rejecting encodings RFC 9669 does not define. */
export function decode(bytes: Uint8Array, options: DecodeOptions = {}): Instruction[] {
  if (bytes.length % SLOT_BYTES !== 0) {
    throw new EncodingError(Math.floor(bytes.length / SLOT_BYTES), 'code', `program is ${bytes.length} bytes, not a multiple of 8`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = [];
  const slots = bytes.length / SLOT_BYTES;
  for (let slot = 0; slot < slots; slot++) {
    const at = slot * SLOT_BYTES;
    const code = view.getUint8(at);
    const regs = view.getUint8(at + 1);
    const dst = regs & 0x0f;
    const src = regs >> 4;
    const off = view.getInt16(at + 2, true);
    const imm = view.getInt32(at + 4, true);
    let insn: Instruction;
    if (code === LD_IMM64_CODE) {
      if (slot + 1 >= slots) throw new EncodingError(slot, 'imm2', 'ld_imm64 is missing its second slot at the end of the program');
      const next = at + SLOT_BYTES;
      const nextRegs = view.getUint8(next + 1);
      checkSecondSlot(slot, 'next.code', view.getUint8(next));
      checkSecondSlot(slot, 'next.dst', nextRegs & 0x0f);
      checkSecondSlot(slot, 'next.src', nextRegs >> 4);
      checkSecondSlot(slot, 'next.off', view.getInt16(next + 2, true));
      insn = { code, dst, src, off, imm, imm2: view.getInt32(next + 4, true) };
      slot++;
    } else {
      insn = { code, dst, src, off, imm };
    }
    if (options.validate !== false) classify(insn, at / SLOT_BYTES);
    out.push(insn);
  }
  return out;
}

function checkSecondSlot(slot: number, field: Field, value: number): void {
  if (value !== 0) fail(slot, field, `second slot of ld_imm64 must have ${field.slice(5)} 0, found ${value}`);
}

/** Build an opcode byte from table entries; used by the constructors and assemblers. */
export const opcode = {
  alu: (wide: boolean, op: keyof typeof AluOp, source: keyof typeof Source): number =>
    (wide ? InsnClass.ALU64 : InsnClass.ALU) | AluOp[op].value | Source[source],
  jmp: (wide: boolean, op: keyof typeof JmpOp, source: keyof typeof Source): number =>
    (wide ? InsnClass.JMP : InsnClass.JMP32) | JmpOp[op].value | Source[source],
  mem: (cls: 'LD' | 'LDX' | 'ST' | 'STX', mode: keyof typeof Mode, size: SizeName): number =>
    InsnClass[cls] | Mode[mode] | Size[size].value,
};

