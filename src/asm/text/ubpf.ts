/**
 * Parser for the ubpf / bpf_conformance mnemonic syntax:
 *
 *   mov %r0, 1            ldxh %r0, [%r1+2]        lock fetch add32 [%r10-4], %r1
 *   lddw %r0, 0x1122334455667788                   jne %r0, %r1, fail
 *   call 5                call local func1         ja +3
 *
 * `#` starts a comment, `name:` defines a label. Jumps take a label or a
 * signed slot offset (`+3`, `-2`). As in the suite's own assembler, a jump to
 * an undefined label `exit` goes to the first `exit` instruction.
 */
import { atomic, ldAbs, ldImm64, ldInd, ldPseudo, ldx, st, stx } from '../load_store.js';
import { alu, endian, movsx, neg } from '../alu.js';
import { AsmSyntaxError } from '../errors.js';
import { callHelper, callKfunc, callLocal, callRegister, exit } from '../func.js';
import { classify, EncodingError, type Instruction } from '../instruction.js';
import { ja, gotol, jcond } from '../jump.js';
import { FRAME_POINTER } from '../opcodes.js';
import type { Operand } from '../operand.js';
import type { SourceLocation } from '../program.js';
import { parseInteger, resolveLabels, type PendingInsn, type TextProgram } from './common.js';
import { CALL_MODES, PSEUDO_WORDS, UBPF_MNEMONICS } from './ubpf-mnemonics.js';

/** A piece of a line and the 1-based column where it starts. */
interface Token {
  readonly text: string;
  readonly column: number;
}

type Target = NonNullable<PendingInsn['target']>;

/** Built instruction plus, for jumps and local calls, the label its offset will come from. */
interface Built {
  insn: Instruction;
  target?: Target;
}

const LABEL_NAME = /^[A-Za-z_.][\w.]*$/;
const LABEL_DEFINITION = /^([A-Za-z_.][\w.]*):/;

export function parseUbpf(text: string, file: string): TextProgram {
  const pending: PendingInsn[] = [];
  const labels = new Map<string, number>();
  const labelLines = new Map<string, number>();
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = index + 1;
    const commentAt = rawLine.indexOf('#');
    let body = commentAt >= 0 ? rawLine.slice(0, commentAt) : rawLine;
    let column = 1;
    const skipBlanks = (): void => {
      const blanks = /^\s*/.exec(body)![0].length;
      body = body.slice(blanks).trimEnd();
      column += blanks;
    };
    skipBlanks();
    const label = LABEL_DEFINITION.exec(body);
    if (label) {
      const name = label[1]!;
      if (labels.has(name)) {
        throw new AsmSyntaxError({ file, line, column }, `label '${name}' is already defined at line ${labelLines.get(name)}`);
      }
      labels.set(name, pending.length);
      labelLines.set(name, line);
      body = body.slice(label[0].length);
      column += label[0].length;
      skipBlanks();
    }
    if (body === '') return;
    if (body.startsWith('.')) {
      throw new AsmSyntaxError({ file, line, column }, `unknown directive '${body.split(/\s/)[0]}' (the ubpf syntax has no directives)`);
    }
    const at: SourceLocation = { file, line };
    const built = parseStatement(body, column, at);
    checkEncoding(built.insn, at);
    pending.push(built.target ? { insn: built.insn, at, target: built.target } : { insn: built.insn, at });
  });
  return resolveLabels(pending, labels, { implicitExitLabel: true });
}

/** Split `mnemonic op1, op2` into tokens; `lock [fetch] op` is one mnemonic that ends where the memory operand starts. */
function tokenize(body: string, column: number): { mnemonic: Token; operands: Token[] } {
  const mnemonicEnd = /^lock(\s|$)/.test(body) ? indexOrEnd(body, '[') : indexOrEnd(body, ' ', '\t');
  const mnemonic = { text: body.slice(0, mnemonicEnd).trim().replace(/\s+/g, ' '), column };
  const rest = body.slice(mnemonicEnd);
  if (rest.trim() === '') return { mnemonic, operands: [] };
  const operands: Token[] = [];
  let start = mnemonicEnd;
  for (const piece of rest.split(',')) {
    const lead = /^\s*/.exec(piece)![0].length;
    operands.push({ text: piece.trim(), column: column + start + lead });
    start += piece.length + 1;
  }
  return { mnemonic, operands };
}

function indexOrEnd(text: string, ...chars: string[]): number {
  const found = chars.map((c) => text.indexOf(c)).filter((i) => i >= 0);
  return found.length > 0 ? Math.min(...found) : text.length;
}

function parseStatement(body: string, column: number, at: SourceLocation): Built {
  const { mnemonic, operands } = tokenize(body, column);
  const where = (token: Token): SourceLocation => ({ ...at, column: token.column });
  const fail = (token: Token, detail: string): never => {
    throw new AsmSyntaxError(where(token), detail);
  };
  for (const operand of operands) if (operand.text === '') fail(operand, `empty operand in '${body}'`);

  const form = UBPF_MNEMONICS.get(mnemonic.text);
  if (!form) {
    if (mnemonic.text === 'lock' || mnemonic.text === 'lock fetch') {
      fail(mnemonic, `'${mnemonic.text}' needs an atomic operation and 2 operands: lock [fetch] OP[32] [%rD+off], %rS`);
    }
    return fail(mnemonic, `unknown mnemonic '${mnemonic.text}'`);
  }
  const expect = (...usage: string[]): Token[] => {
    if (operands.length !== usage.length) {
      const wanted = usage.length === 0 ? 'no operands' : `${usage.length} operand${usage.length > 1 ? 's' : ''} (${usage.join(', ')})`;
      fail(mnemonic, `'${mnemonic.text}' takes ${wanted}, found ${operands.length}`);
    }
    return operands;
  };
  const reg = (token: Token): number => parseRegister(token, where(token));
  const imm = (token: Token): number => parseField(token, 32, where(token), 'immediate');
  const regOrImm = (token: Token): Operand => (token.text.startsWith('%') ? { reg: reg(token) } : { imm: imm(token) });
  const mem = (token: Token): { reg: number; off: number } => parseMemory(token, where(token));

  switch (form.kind) {
    case 'alu': {
      const [dst, src] = expect('%rD', '%rS or imm');
      return { insn: alu(form.op, form.wide, reg(dst!), regOrImm(src!), form.signed) };
    }
    case 'movsx': {
      const [dst, src] = expect('%rD', '%rS');
      return { insn: movsx(form.wide, reg(dst!), reg(src!), form.bits) };
    }
    case 'neg':
      return { insn: neg(form.wide, reg(expect('%rD')[0]!)) };
    case 'end':
      return { insn: endian(form.order, form.bits, reg(expect('%rD')[0]!)) };
    case 'jcond': {
      const [dst, src, target] = expect('%rD', '%rS or imm', 'label or +off');
      const insn = jcond(form.op, form.wide, reg(dst!), regOrImm(src!), 0);
      return withTarget(insn, target!, 'off', where(target!));
    }
    case 'ja': {
      const [target] = expect('label or +off');
      return withTarget(ja(0), target!, 'off', where(target!));
    }
    case 'gotol': {
      const [target] = expect('label or +off');
      return withTarget(gotol(0), target!, 'imm', where(target!));
    }
    case 'exit':
      expect();
      return { insn: exit() };
    case 'call':
    case 'callx':
      return parseCall(mnemonic, operands, where);
    case 'ld_imm64':
      return { insn: parseLddw(mnemonic, operands, where) };
    case 'ld_abs':
      return { insn: ldAbs(form.size as 'W' | 'H' | 'B', imm(expect('imm')[0]!)) };
    case 'ld_ind': {
      const [src, offset] = expect('%rS', 'imm');
      return { insn: ldInd(form.size as 'W' | 'H' | 'B', reg(src!), imm(offset!)) };
    }
    case 'ldx': {
      const [dst, src] = expect('%rD', '[%rS+off]');
      const address = mem(src!);
      return { insn: ldx(form.size, reg(dst!), address.reg, address.off, form.signExtend) };
    }
    case 'st': {
      const [dst, value] = expect('[%rD+off]', 'imm');
      const address = mem(dst!);
      return { insn: st(form.size, address.reg, address.off, imm(value!)) };
    }
    case 'stx': {
      const [dst, src] = expect('[%rD+off]', '%rS');
      const address = mem(dst!);
      return { insn: stx(form.size, address.reg, reg(src!), address.off) };
    }
    case 'atomic': {
      const [dst, src] = expect('[%rD+off]', '%rS');
      const address = mem(dst!);
      return { insn: atomic(form.size, form.op, form.fetch, address.reg, reg(src!), address.off) };
    }
  }
}

/** `call N` / `call helper N` (helper id), `call local TARGET`, `call kfunc ID[, btf_fd_index]`. */
function parseCall(mnemonic: Token, operands: Token[], where: (t: Token) => SourceLocation): Built {
  const [first, second] = operands;
  if (!first || operands.length > 2) {
    throw new AsmSyntaxError(where(mnemonic), `'call' takes 1 operand ([helper|local|kfunc] target), found ${operands.length}`);
  }
  // `call %rN` calls through a register: outside RFC 9669 and rejected by Linux, but the suite and LLVM have it.
  if (first.text.startsWith('%') && !second) return { insn: callRegister(parseRegister(first, where(first))) };
  const words = first.text.split(/\s+/);
  const [modeWord, targetText] = words.length === 2 ? words : ['helper', first.text];
  const mode = CALL_MODES.get(modeWord!);
  if (!mode || words.length > 2) {
    throw new AsmSyntaxError(where(first), `'call ${first.text}': expected call [helper|local|kfunc] TARGET`);
  }
  const target: Token = { text: targetText!, column: first.column + first.text.length - targetText!.length };
  if (second && mode !== 'KFUNC') {
    throw new AsmSyntaxError(where(second), `'call ${first.text}' takes 1 operand, found 2 (only a kfunc call has a second one, the BTF fd index)`);
  }
  switch (mode) {
    case 'LOCAL':
      return withTarget(callLocal(0), target, 'imm', where(target));
    case 'KFUNC': {
      const btfFdIndex = second ? parseField(second, 16, where(second), 'BTF fd index') : 0;
      return { insn: callKfunc(parseField(target, 32, where(target), 'kfunc BTF id'), btfFdIndex) };
    }
    case 'HELPER':
      return { insn: callHelper(parseField(target, 32, where(target), 'helper id')) };
  }
}

/** `lddw %rD, imm64`, or with a pseudo source the kernel resolves: `lddw %rD, map_fd 5`, `lddw %rD, map_value 5, 16`. */
function parseLddw(mnemonic: Token, operands: Token[], where: (t: Token) => SourceLocation): Instruction {
  const [dst, value, second] = operands;
  const pseudoWord = value && /^([a-z_]+)\s+(\S+)$/.exec(value.text);
  const expected = pseudoWord ? [2, 3] : [2];
  if (!dst || !value || !expected.includes(operands.length)) {
    const usage = pseudoWord ? `%rD, ${pseudoWord[1]} imm[, imm2]` : '%rD, imm64';
    throw new AsmSyntaxError(where(mnemonic), `'lddw' takes ${expected.join(' or ')} operands (${usage}), found ${operands.length}`);
  }
  const reg = parseRegister(dst, where(dst));
  if (!pseudoWord) return ldImm64(reg, parseInteger(value.text, 64, where(value), 'immediate'));
  const pseudo = PSEUDO_WORDS.get(pseudoWord[1]!);
  if (!pseudo) {
    throw new AsmSyntaxError(where(value), `unknown ld_imm64 source '${pseudoWord[1]}' (expected ${[...PSEUDO_WORDS.keys()].join(', ')})`);
  }
  const immToken: Token = { text: pseudoWord[2]!, column: value.column + value.text.length - pseudoWord[2]!.length };
  const imm = parseField(immToken, 32, where(immToken), `${pseudoWord[1]} value`);
  return ldPseudo(reg, pseudo, imm, second ? parseField(second, 32, where(second), 'second immediate') : 0);
}

function withTarget(insn: Instruction, token: Token, field: Target['field'], at: SourceLocation): Built {
  if (/^[+-]/.test(token.text)) {
    return { insn: { ...insn, [field]: parseField(token, field === 'off' ? 16 : 32, at, 'jump offset') } };
  }
  if (!LABEL_NAME.test(token.text)) throw new AsmSyntaxError(at, `jump target '${token.text}' is neither a label nor a signed offset like +3`);
  return { insn, target: { label: token.text, field } };
}

function parseRegister(token: Token, at: SourceLocation): number {
  const m = /^%r(\d+)$/.exec(token.text);
  if (!m) throw new AsmSyntaxError(at, `expected a register like %r1, found '${token.text}'`);
  const reg = Number(m[1]);
  if (reg > FRAME_POINTER) throw new AsmSyntaxError(at, `bad register '${token.text}': registers are %r0-%r${FRAME_POINTER}`);
  return reg;
}

function parseMemory(token: Token, at: SourceLocation): { reg: number; off: number } {
  const m = /^\[\s*(%?\w+)\s*(?:([+-])\s*(\w+))?\s*\]$/.exec(token.text);
  if (!m) throw new AsmSyntaxError(at, `expected a memory operand like [%r1+8], found '${token.text}'`);
  const reg = parseRegister({ text: m[1]!, column: token.column + 1 }, at);
  const off = m[2] ? parseField({ text: m[2] + m[3], column: token.column }, 16, at, 'offset') : 0;
  return { reg, off };
}

/**
 * A 16- or 32-bit field. Like the suite's assembler, hex literals are bit
 * patterns (0xffffffff is -1 in 32 bits) while decimal literals are signed
 * values, so 2147483648 does not fit 32 bits.
 */
function parseField(token: Token, bits: 16 | 32, at: SourceLocation, what: string): number {
  const value = parseInteger(token.text, bits, at, what);
  if (!/0x/i.test(token.text) && BigInt(token.text) !== value) {
    const limit = 1n << BigInt(bits - 1);
    throw new AsmSyntaxError(at, `${what} ${token.text} does not fit a signed ${bits}-bit field (${-limit}..${limit - 1n}); write a bit pattern in hex`);
  }
  return Number(value);
}

/** A constructed instruction can still be one RFC 9669 does not define (a map fd load with a second immediate). */
function checkEncoding(insn: Instruction, at: SourceLocation): void {
  try {
    classify(insn);
  } catch (error) {
    if (error instanceof EncodingError) throw new AsmSyntaxError(at, `invalid ${error.field}: ${error.detail}`);
    throw error;
  }
}
