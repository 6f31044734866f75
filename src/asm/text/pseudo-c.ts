/**
 * Assembler for LLVM's BPF pseudo-C syntax: the `.s` text llvm-mc accepts
 * and everything formatLlvm prints (so an edited `bpfgen dump` assembles
 * again). Operators, sizes and names come from the opcode table.
 *
 * Accepted around the instructions: `label:` lines, `<function>:` headers,
 * llvm-objdump slot prefixes (`  12:`) and byte columns, `<...>` jump
 * annotations, relocation lines (recorded in `relocations`), comments
 * (`;`, `#`, `//`) and assembler directives (`.text`, `.globl`, ..., ignored).
 */
import { AsmSyntaxError } from '../errors.js';
import { classify, EncodingError, type Instruction } from '../instruction.js';
import { alu, endian, movsx, neg } from '../alu.js';
import { callHelper, callKfunc, callLocal, callRegister, exit } from '../func.js';
import { gotol, ja, jcond } from '../jump.js';
import { atomic, ldAbs, ldImm64, ldInd, ldPseudo, ldx, st, stx } from '../load_store.js';
import {
  AluOp,
  AtomicOp,
  BINARY_ALU_OPS,
  CONDITIONAL_JMP_OPS,
  FRAME_POINTER,
  JmpOp,
  MOVSX_BITS,
  PseudoSrc,
  Size,
  SWAP_BITS,
  pseudoSrcByValue,
  type AtomicOpName,
  type BinaryAluOpName,
  type CondJmpOpName,
  type MovsxBits,
  type PseudoSrcName,
  type SizeName,
  type SwapBits,
} from '../opcodes.js';
import type { Relocation, RelocationKind, SourceLocation } from '../program.js';
import { ELF_RELOCATION_TYPE, KFUNC_KEYWORD, LOCAL_CALL_PREFIX, atomicSuffix, pseudoName } from '../disasm/llvm.js';
import { parseInteger, resolveLabels, type PendingInsn, type TextProgram } from './common.js';

// ---- parse tables, built from the opcode table ------------------------------

/** Compound assignment operators (`+=`, `s/=`, `=`) to ALU operation. */
const ALU_OPERATORS = new Map<string, { op: BinaryAluOpName; signed: boolean }>();
for (const op of BINARY_ALU_OPS) {
  const info = AluOp[op];
  ALU_OPERATORS.set(`${info.symbol}=`, { op, signed: false });
  if ('signed' in info) ALU_OPERATORS.set(`${info.signed.symbol}=`, { op, signed: true });
}

const JMP_OPERATORS = new Map<string, CondJmpOpName>(CONDITIONAL_JMP_OPS.map((op) => [JmpOp[op].symbol, op]));

/** `u8` .. `u64` to size. */
const UNSIGNED_TYPES = new Map<string, SizeName>(
  (Object.keys(Size) as SizeName[]).map((size) => [`u${Size[size].bytes * 8}`, size]),
);
/** `s8` .. `s32`: the sizes a sign-extending load exists for. */
const SIGNED_TYPES = new Map<string, SizeName>(
  (Object.keys(Size) as SizeName[]).filter((size) => size !== 'DW').map((size) => [`s${Size[size].bytes * 8}`, size]),
);

const ATOMIC_OPERATORS = new Map<string, AtomicOpName>();
const ATOMIC_FETCH_NAMES = new Map<string, AtomicOpName>();
const ATOMIC_EXCHANGE_NAMES = new Map<string, { op: AtomicOpName; size: 'W' | 'DW' }>();
for (const op of Object.keys(AtomicOp) as AtomicOpName[]) {
  const info = AtomicOp[op];
  if (info.alwaysFetch) {
    for (const size of ['W', 'DW'] as const) ATOMIC_EXCHANGE_NAMES.set(`${info.mnemonic}${atomicSuffix(size)}`, { op, size });
  } else {
    ATOMIC_OPERATORS.set(`${info.symbol}=`, op);
    ATOMIC_FETCH_NAMES.set(`atomic_fetch_${info.mnemonic}`, op);
  }
}

const BYTE_ORDERS = ['le', 'be', 'bswap'] as const;

const PSEUDO_NAMES = new Map<string, PseudoSrcName>();
for (const value of Object.values(PseudoSrc)) {
  const name = pseudoSrcByValue.get(value)!;
  if (name !== 'IMM') PSEUDO_NAMES.set(pseudoName(name), name);
}

const RELOCATION_TYPES = new Set(Object.values(ELF_RELOCATION_TYPE));

// ---- a cursor over one instruction's text -----------------------------------

interface Register {
  readonly num: number;
  /** `r` (64-bit view) or `w` (32-bit view). */
  readonly view: 'r' | 'w';
}

const IDENTIFIER = /^[A-Za-z_.$][\w.$]*/;
const NUMBER = /^[+-]?\s*(?:0x[0-9a-f]+|\d+)\b/i;

class Cursor {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly line: number,
    /** Column of text[0] in the source line, 1-based. */
    private readonly column: number,
  ) {}

  at(pos = this.pos): SourceLocation {
    return { file: this.file, line: this.line, column: this.column + pos };
  }

  fail(expected: string): never {
    this.skipSpace();
    const rest = this.text.slice(this.pos);
    const found = rest === '' ? 'end of line' : `'${rest.split(/\s+/)[0]}'`;
    throw new AsmSyntaxError(this.at(), `expected ${expected}, found ${found}`);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private rest(): string {
    this.skipSpace();
    return this.text.slice(this.pos);
  }

  /** Consume `literal` if it comes next. Word literals must end at a word boundary. */
  eat(literal: string): boolean {
    const rest = this.rest();
    if (!rest.startsWith(literal)) return false;
    if (/\w$/.test(literal) && /^\w/.test(rest.slice(literal.length))) return false;
    this.pos += literal.length;
    return true;
  }

  expect(literal: string): void {
    if (!this.eat(literal)) this.fail(`'${literal}'`);
  }

  /** Consume the longest of `options` that comes next. */
  oneOf(options: Iterable<string>): string | undefined {
    const sorted = [...options].sort((a, b) => b.length - a.length);
    return sorted.find((option) => this.eat(option));
  }

  peekRegister(): boolean {
    return /^[rw]\d+\b/.test(this.rest());
  }

  /** `-r1` (negation), as opposed to `-1` (a negative number). */
  peekNegatedRegister(): boolean {
    return /^-\s*[rw]\d+\b/.test(this.rest());
  }

  peekIdentifier(): string | undefined {
    return IDENTIFIER.exec(this.rest())?.[0];
  }

  identifier(what: string): string {
    const name = this.peekIdentifier();
    if (name === undefined) this.fail(what);
    this.pos += name.length;
    return name;
  }

  register(view?: 'r' | 'w'): Register {
    const rest = this.rest();
    const m = /^([rw])(\d+)\b/.exec(rest);
    const wanted = view === undefined ? 'a register (r0-r10 or w0-w10)' : `a register ${view}0-${view}10`;
    if (!m) this.fail(wanted);
    const num = Number(m[2]);
    if (num > FRAME_POINTER) throw new AsmSyntaxError(this.at(), `register ${m[0]} does not exist (r0-r10)`);
    if (view !== undefined && m[1] !== view) throw new AsmSyntaxError(this.at(), `expected ${wanted}, found '${m[0]}'`);
    this.pos += m[0].length;
    return { num, view: m[1] as 'r' | 'w' };
  }

  /** The given register again, as `-r1` or `le16 r1` repeat their destination. */
  sameRegister(expected: Register): void {
    const start = this.pos;
    const reg = this.register(expected.view);
    if (reg.num !== expected.num) {
      throw new AsmSyntaxError(this.at(start), `expected ${expected.view}${expected.num} (the destination register), found ${reg.view}${reg.num}`);
    }
  }

  peekNumber(): boolean {
    return NUMBER.test(this.rest());
  }

  /** A signed or unsigned integer that fits `bits`, returned signed. */
  integer(bits: 16 | 32 | 64, what: string): bigint {
    const m = NUMBER.exec(this.rest());
    if (!m) this.fail(what);
    const start = this.pos;
    this.pos += m[0].length;
    return parseInteger(m[0].replace(/\s+/g, ''), bits, this.at(start), what);
  }

  /** A signed value that must lie in [min, max] (jump and memory offsets). */
  signedInRange(text: string, start: number, min: number, max: number, what: string): number {
    const value = parseInteger(text, 64, this.at(start), what);
    if (value < BigInt(min) || value > BigInt(max)) {
      throw new AsmSyntaxError(this.at(start), `${what} ${text} is out of range (${min} to ${max})`);
    }
    return Number(value);
  }

  /** `+3`, `-0x1` or `3`: a relative distance that fits a signed field. */
  relative(bits: 16 | 32, what: string): number {
    const m = NUMBER.exec(this.rest());
    if (!m) this.fail(what);
    const start = this.pos;
    this.pos += m[0].length;
    const limit = 2 ** (bits - 1);
    return this.signedInRange(m[0].replace(/\s+/g, ''), start, -limit, limit - 1, what);
  }

  /** `r10 - 0x8`: base register and signed 16-bit offset. */
  address(): { base: number; off: number } {
    const base = this.register('r').num;
    let sign: string;
    if (this.eat('+')) sign = '';
    else if (this.eat('-')) sign = '-';
    else return { base, off: 0 };
    const m = NUMBER.exec(this.rest());
    if (!m) this.fail('an offset');
    const start = this.pos;
    this.pos += m[0].length;
    return { base, off: this.signedInRange(`${sign}${m[0]}`, start, -32768, 32767, 'offset') };
  }

  /** `(u32 *)` after the opening `*(` or `((`: the access type. */
  accessType(types: Map<string, SizeName>, what: string): { name: string; size: SizeName } {
    const name = this.oneOf(types.keys());
    if (name === undefined) this.fail(what);
    this.expect('*');
    this.expect(')');
    return { name, size: types.get(name)! };
  }

  end(): void {
    if (this.rest() !== '') this.fail('end of instruction');
  }
}

// ---- instructions -----------------------------------------------------------

type Parsed = { insn: Instruction; target?: PendingInsn['target']; symbol?: string };

const num = (value: bigint): number => Number(value);

/** `goto +3`, `goto -0x1` or `goto label`. */
function jumpTarget(c: Cursor, field: 'off' | 'imm'): { distance: number; label?: string } {
  if (c.peekNumber()) return { distance: c.relative(field === 'off' ? 16 : 32, 'jump offset') };
  return { distance: 0, label: c.identifier('a jump offset (+N, -N) or a label') };
}

function withTarget(insn: Instruction, target: { label?: string }, field: 'off' | 'imm'): Parsed {
  return target.label === undefined ? { insn } : { insn, target: { label: target.label, field } };
}

function parseConditional(c: Cursor): Parsed {
  const dst = c.register();
  const symbol = c.oneOf(JMP_OPERATORS.keys());
  if (symbol === undefined) c.fail(`a comparison (${[...JMP_OPERATORS.keys()].join(' ')})`);
  const op = JMP_OPERATORS.get(symbol)!;
  const wide = dst.view === 'r';
  const src = c.peekRegister() ? { reg: c.register(dst.view).num } : { imm: num(c.integer(32, 'immediate')) };
  c.expect('goto');
  const target = jumpTarget(c, 'off');
  return withTarget(jcond(op, wide, dst.num, src, target.distance), target, 'off');
}

function parseCall(c: Cursor): Parsed {
  if (c.eat(KFUNC_KEYWORD)) {
    const btfId = num(c.integer(32, 'kfunc BTF id'));
    const module = c.eat(',') ? num(c.integer(16, 'module BTF index')) : 0;
    return { insn: callKfunc(btfId, module) };
  }
  if (c.eat(LOCAL_CALL_PREFIX)) return { insn: callLocal(c.relative(32, 'call offset')) };
  if (c.peekNumber()) return { insn: callHelper(num(c.integer(32, 'helper id'))) };
  const label = c.identifier(`a helper id, ${LOCAL_CALL_PREFIX}+N, '${KFUNC_KEYWORD} N' or a function label`);
  return { insn: callLocal(0), target: { label, field: 'imm' } };
}

/** `*(u32 *)(r10 - 8) = w1` or `= 7`. */
function parseStore(c: Cursor): Parsed {
  const { size } = c.accessType(UNSIGNED_TYPES, 'a store type (u8, u16, u32, u64)');
  c.expect('(');
  const { base, off } = c.address();
  c.expect(')');
  c.expect('=');
  if (c.peekRegister()) return { insn: stx(size, base, c.register(size === 'DW' ? 'r' : undefined).num, off) };
  return { insn: st(size, base, off, num(c.integer(32, 'immediate'))) };
}

/** `lock *(u64 *)(r10 - 8) += r1`. */
function parseLock(c: Cursor): Parsed {
  c.expect('*(');
  const { size } = c.accessType(UNSIGNED_TYPES, 'an atomic type (u32, u64)');
  if (size !== 'W' && size !== 'DW') throw new AsmSyntaxError(c.at(), 'atomic operations are 32 or 64 bit only (u32, u64)');
  c.expect('(');
  const { base, off } = c.address();
  c.expect(')');
  const symbol = c.oneOf(ATOMIC_OPERATORS.keys());
  if (symbol === undefined) c.fail(`an atomic operator (${[...ATOMIC_OPERATORS.keys()].join(' ')})`);
  const src = c.register(size === 'DW' ? 'r' : 'w');
  return { insn: atomic(size, ATOMIC_OPERATORS.get(symbol)!, false, base, src.num, off) };
}

/** Everything that starts `rD = ...` or `rD op= ...`. */
function parseAssignment(c: Cursor): Parsed {
  const dst = c.register();
  const wide = dst.view === 'r';
  const operator = c.oneOf(ALU_OPERATORS.keys());
  if (operator === undefined) c.fail(`an assignment operator (${[...ALU_OPERATORS.keys()].join(' ')})`);
  const { op, signed } = ALU_OPERATORS.get(operator)!;
  if (op !== 'MOV') {
    const src = c.peekRegister() ? { reg: c.register(dst.view).num } : { imm: num(c.integer(32, 'immediate')) };
    return { insn: alu(op, wide, dst.num, src, signed) };
  }

  if (c.peekNegatedRegister()) {
    c.expect('-');
    c.sameRegister(dst);
    return { insn: neg(wide, dst.num) };
  } else if (c.eat('(')) {
    const bits = c.oneOf(MOVSX_BITS.map((b) => `s${b}`));
    if (bits === undefined) c.fail(`a sign-extension cast (${MOVSX_BITS.map((b) => `(s${b})`).join(' ')})`);
    c.expect(')');
    const src = c.register(dst.view);
    return { insn: movsx(wide, dst.num, src.num, Number(bits.slice(1)) as MovsxBits) };
  } else if (c.eat('*(')) {
    return parseLoad(c, dst);
  }
  return parseMoveOrCall(c, dst);
}

/** After `rD = *(`: a memory load or a legacy packet load. */
function parseLoad(c: Cursor, dst: Register): Parsed {
  const types = new Map([...UNSIGNED_TYPES, ...SIGNED_TYPES]);
  const { name, size } = c.accessType(types, 'a load type (u8, u16, u32, u64, s8, s16, s32)');
  if (c.eat('skb')) {
    if (dst.num !== 0) throw new AsmSyntaxError(c.at(), 'packet loads always write r0');
    if (size === 'DW' || !name.startsWith('u')) throw new AsmSyntaxError(c.at(), 'packet loads are u8, u16 or u32');
    c.expect('[');
    let insn: Instruction;
    if (c.peekRegister()) {
      const { base, off } = c.address();
      insn = ldInd(size, base, off);
    } else {
      insn = ldAbs(size, num(c.integer(32, 'packet offset')));
    }
    c.expect(']');
    return { insn };
  }
  const signExtend = name.startsWith('s');
  if ((size === 'DW' || signExtend) && dst.view !== 'r') {
    throw new AsmSyntaxError(c.at(), `a ${name} load writes a 64-bit register (r${dst.num})`);
  }
  c.expect('(');
  const { base, off } = c.address();
  c.expect(')');
  return { insn: ldx(size, dst.num, base, off, signExtend) };
}

/** After `rD =`: byte swaps, atomics written as calls, pseudo loads, 64-bit immediates and moves. */
function parseMoveOrCall(c: Cursor, dst: Register): Parsed {
  const wide = dst.view === 'r';
  const name = c.peekIdentifier();
  if (name !== undefined && !c.peekRegister()) {
    const order = BYTE_ORDERS.find((o) => new RegExp(`^${o}\\d+$`).test(name));
    if (order !== undefined) {
      c.identifier('byte order');
      const bits = Number(name.slice(order.length)) as SwapBits;
      if (!SWAP_BITS.includes(bits)) throw new AsmSyntaxError(c.at(), `byte swap width ${bits} is not ${SWAP_BITS.join(', ')}`);
      c.sameRegister(dst);
      return { insn: endian(order, bits, dst.num) };
    }
    const fetchOp = ATOMIC_FETCH_NAMES.get(name);
    if (fetchOp !== undefined) {
      c.identifier('atomic');
      c.expect('(');
      c.expect('(');
      const { size } = c.accessType(UNSIGNED_TYPES, 'an atomic type (u32, u64)');
      if (size !== 'W' && size !== 'DW') throw new AsmSyntaxError(c.at(), 'atomic operations are 32 or 64 bit only');
      c.expect('(');
      const { base, off } = c.address();
      c.expect(')');
      c.expect(',');
      c.sameRegister(dst);
      c.expect(')');
      return { insn: atomic(size, fetchOp, true, base, dst.num, off) };
    }
    const exchange = ATOMIC_EXCHANGE_NAMES.get(name);
    if (exchange !== undefined) {
      c.identifier('atomic');
      c.expect('(');
      const { base, off } = c.address();
      c.expect(',');
      let src: Register;
      if (exchange.op === 'CMPXCHG') {
        if (dst.num !== 0) throw new AsmSyntaxError(c.at(), `${name} always writes ${dst.view}0`);
        c.sameRegister(dst);
        c.expect(',');
        src = c.register(dst.view);
      } else {
        src = dst;
        c.sameRegister(dst);
      }
      c.expect(')');
      return { insn: atomic(exchange.size, exchange.op, true, base, src.num, off) };
    }
    const pseudo = PSEUDO_NAMES.get(name);
    if (pseudo !== undefined) {
      c.identifier('pseudo source');
      c.expect('(');
      const imm = num(c.integer(32, 'immediate'));
      const imm2 = c.eat(',') ? num(c.integer(32, 'second immediate')) : 0;
      c.expect(')');
      c.expect('ll');
      return { insn: ldPseudo(requireWide(c, dst), pseudo, imm, imm2) };
    }
    // `r1 = counters ll`: a symbol the loader or linker fills in.
    const symbol = c.identifier('a symbol');
    c.expect('ll');
    return { insn: ldImm64(requireWide(c, dst), 0n), symbol };
  }

  if (c.peekRegister()) return { insn: alu('MOV', wide, dst.num, { reg: c.register(dst.view).num }) };
  if (!c.peekNumber()) c.fail('a register, a number, a cast, a load or a 64-bit immediate');
  const probe = c.integer(64, 'immediate');
  if (c.eat('ll')) return { insn: ldImm64(requireWide(c, dst), probe) };
  if (probe < -(1n << 31n) || probe > (1n << 32n) - 1n) {
    throw new AsmSyntaxError(c.at(), `immediate ${probe} does not fit in 32 bits (add 'll' for a 64-bit immediate)`);
  }
  return { insn: alu('MOV', wide, dst.num, { imm: Number(BigInt.asIntN(32, probe)) }) };
}

function requireWide(c: Cursor, dst: Register): number {
  if (dst.view !== 'r') throw new AsmSyntaxError(c.at(), `64-bit immediate loads write a 64-bit register (r${dst.num})`);
  return dst.num;
}

/** `ld_pseudo r1, 2, 3`: LLVM's spelling of a pseudo-source 64-bit load (second slot imm 0). */
function parseLdPseudo(c: Cursor): Parsed {
  const dst = c.register('r').num;
  c.expect(',');
  const start = c.at();
  const source = num(c.integer(32, 'pseudo source'));
  const pseudo = pseudoSrcByValue.get(source);
  if (pseudo === undefined) throw new AsmSyntaxError(start, `pseudo source ${source} is not one of ${[...pseudoSrcByValue.keys()].join(', ')}`);
  c.expect(',');
  const imm = num(c.integer(32, 'immediate'));
  return { insn: ldPseudo(dst, pseudo, imm) };
}

function parseInstruction(c: Cursor): Parsed {
  let parsed: Parsed;
  if (c.eat('if')) parsed = parseConditional(c);
  else if (c.eat('gotol')) {
    const target = jumpTarget(c, 'imm');
    parsed = withTarget(gotol(target.distance), target, 'imm');
  } else if (c.eat('goto')) {
    const target = jumpTarget(c, 'off');
    parsed = withTarget(ja(target.distance), target, 'off');
  } else if (c.eat('callx')) parsed = { insn: callRegister(c.register('r').num) };
  else if (c.eat('call')) parsed = parseCall(c);
  else if (c.eat('exit')) parsed = { insn: exit() };
  else if (c.eat('lock')) parsed = parseLock(c);
  else if (c.eat('*(')) parsed = parseStore(c);
  else if (c.eat('ld_pseudo')) parsed = parseLdPseudo(c);
  else if (c.peekRegister()) parsed = parseAssignment(c);
  else c.fail('an instruction');
  c.end();
  return parsed;
}

// ---- lines ------------------------------------------------------------------

/** llvm-objdump's bytes column: 8 or 16 two-digit hex bytes. */
const BYTES_COLUMN = /^(?:[0-9a-f]{2} ){7}[0-9a-f]{2}(?: (?:[0-9a-f]{2} ){7}[0-9a-f]{2})?(?=\s|$)/i;
const SLOT_PREFIX = /^\d+:/;
const FUNCTION_HEADER = /^(?:[0-9a-f]+\s+)?<([^<>\s]+)>:$/i;
const RELOCATION = /^(?:[0-9a-f]+:\s+)?(R_BPF_\w+)\s+([A-Za-z_.$][\w.$]*)(?:\+(0x[0-9a-f]+|\d+))?$/i;
const LABEL = /^([A-Za-z_.$][\w.$]*):/;
/** The `<target>` llvm-objdump and formatLlvm append to jumps and calls. */
const ANNOTATION = /\s<[^\s<>]+>$/;

/** Cut a trailing `;`, `#` or `//` comment. */
function stripComment(line: string): string {
  const m = /;|#|\/\//.exec(line);
  return m ? line.slice(0, m.index) : line;
}

/** What a relocation against `insn` asks for, judged from the instruction it patches. */
function relocationKind(insn: Instruction, addend: number): RelocationKind {
  const form = classify(insn);
  if (form.kind === 'call') return form.target === 'KFUNC' ? 'kfunc' : 'call';
  if (form.kind === 'ld_imm64') {
    if (form.pseudo === 'FUNC') return 'func_addr';
    if (form.pseudo === 'MAP_VALUE' || form.pseudo === 'MAP_IDX_VALUE' || addend !== 0) return 'map_value';
  }
  return 'map_fd';
}

/** A program in LLVM pseudo-C syntax; relocations (from `R_BPF_*` lines and `rN = symbol ll`) are returned too. */
export function parsePseudoC(text: string, file: string): TextProgram & { relocations: Relocation[] } {
  const pending: PendingInsn[] = [];
  const labels = new Map<string, number>();
  const relocations: Relocation[] = [];

  const defineLabel = (name: string, at: SourceLocation): void => {
    const previous = labels.get(name);
    if (previous !== undefined && previous !== pending.length) throw new AsmSyntaxError(at, `label '${name}' is defined twice`);
    labels.set(name, pending.length);
  };

  text.split(/\r?\n/).forEach((raw, lineIndex) => {
    const line = lineIndex + 1;
    const location = (column: number): SourceLocation => ({ file, line, column });
    let body = stripComment(raw);
    let column = 1 + (body.length - body.trimStart().length);
    body = body.trim();
    if (body === '' || /^Disassembly of section /.test(body) || /:\s+file format /.test(body)) return;

    const reloc = RELOCATION.exec(body);
    if (reloc) {
      const [, type, symbol, addendText] = reloc;
      if (!RELOCATION_TYPES.has(type!)) throw new AsmSyntaxError(location(column), `unknown relocation type ${type}`);
      const index = pending.length - 1;
      if (index < 0) throw new AsmSyntaxError(location(column), 'relocation before any instruction');
      const addend = addendText === undefined ? 0 : Number(addendText);
      const kind = relocationKind(pending[index]!.insn, addend);
      relocations.push(addend !== 0 ? { insn: index, kind, symbol: symbol!, addend } : { insn: index, kind, symbol: symbol! });
      return;
    }
    const header = FUNCTION_HEADER.exec(body);
    if (header) {
      defineLabel(header[1]!, location(column));
      return;
    }
    if (body.startsWith('.') && !LABEL.test(body)) return; // assembler directive

    for (let m = LABEL.exec(body); m; m = LABEL.exec(body)) {
      defineLabel(m[1]!, location(column));
      const rest = body.slice(m[0].length);
      column += m[0].length + (rest.length - rest.trimStart().length);
      body = rest.trim();
    }
    const slot = SLOT_PREFIX.exec(body);
    if (slot) {
      const rest = body.slice(slot[0].length);
      column += slot[0].length + (rest.length - rest.trimStart().length);
      body = rest.trim();
    }
    const bytes = BYTES_COLUMN.exec(body);
    if (bytes) {
      const rest = body.slice(bytes[0].length);
      column += bytes[0].length + (rest.length - rest.trimStart().length);
      body = rest.trim();
    }
    body = body.replace(ANNOTATION, '');
    if (body === '') return;

    const cursor = new Cursor(body, file, line, column);
    const parsed = parseInstruction(cursor);
    try {
      classify(parsed.insn);
    } catch (error) {
      if (error instanceof EncodingError) throw new AsmSyntaxError(location(column), `invalid ${error.field}: ${error.detail}`);
      throw error;
    }
    if (parsed.symbol !== undefined) relocations.push({ insn: pending.length, kind: 'map_fd', symbol: parsed.symbol });
    pending.push({ insn: parsed.insn, at: { file, line, column }, ...(parsed.target ? { target: parsed.target } : {}) });
  });

  return { ...resolveLabels(pending, labels), relocations };
}
