/**
 * The ubpf-syntax parser and printer: every instruction form survives
 * print → parse, labels survive, numbers follow the conformance suite's
 * assembler (hex is a bit pattern, decimal is signed), errors name file:line,
 * and assembleText tells the two syntaxes apart on real LLVM output.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { alu, endian, movsx } from '../src/asm/alu.js';
import { formatUbpf } from '../src/asm/disasm/ubpf.js';
import { AsmSyntaxError } from '../src/asm/errors.js';
import { callHelper, callLocal, exit } from '../src/asm/func.js';
import { classify, decode, encode, type Instruction } from '../src/asm/instruction.js';
import { disassemble } from '../src/asm/disasm/index.js';
import { gotol, ja, jcond } from '../src/asm/jump.js';
import { atomic, ldImm64, ldx, st } from '../src/asm/load_store.js';
import { assembleText, detectSyntax, textListing } from '../src/asm/text/index.js';
import { parseUbpf } from '../src/asm/text/ubpf.js';
import { UBPF_MNEMONICS, ubpfMnemonic } from '../src/asm/text/ubpf-mnemonics.js';
import { everyForm } from './support/forms.js';

const hex = (insns: readonly Instruction[]): string => Buffer.from(encode(insns)).toString('hex');
const one = (text: string): Instruction => {
  const { insns } = parseUbpf(text, 't.s');
  expect(insns).toHaveLength(1);
  return insns[0]!;
};

/** Range edges of every field the syntax writes as a number. */
function edgeCases(): [string, Instruction][] {
  return [
    ['imm -2^31', alu('MOV', true, 0, { imm: -2147483648 })],
    ['imm 2^31-1', alu('ADD', false, 9, { imm: 2147483647 })],
    ['jump offset -2^15', jcond('JEQ', true, 1, { imm: -1 }, -32768)],
    ['jump offset 2^15-1', ja(32767)],
    ['ja +0', ja(0)],
    ['gotol -2^31', gotol(-2147483648)],
    ['memory offset -2^15', ldx('DW', 0, 10, -32768)],
    ['memory offset 2^15-1', st('B', 1, 32767, -1)],
    ['memory offset 0', atomic('DW', 'CMPXCHG', true, 2, 3, 0)],
    ['lddw 0', ldImm64(10, 0n)],
    ['lddw -1', ldImm64(1, -1n)],
    ['lddw 2^63', ldImm64(2, 0x8000000000000000n)],
    ['call helper 2^31-1', callHelper(2147483647)],
  ];
}

describe('print → parse round trip', () => {
  const forms = [...everyForm(), ...edgeCases()];

  it.each(forms)('%s', (_name, insn) => {
    const text = formatUbpf({ insns: [insn] });
    expect(parseUbpf(text, 'roundtrip.s').insns).toEqual([insn]);
  });

  it('all forms as one program, and every mnemonic of the table is printed by some form', () => {
    const insns = forms.map(([, insn]) => insn);
    const text = formatUbpf({ insns });
    expect(hex(parseUbpf(text, 'all.s').insns)).toBe(hex(insns));
    const printed = new Set(insns.map((insn) => ubpfMnemonic(classify(insn))));
    const aliases = [...UBPF_MNEMONICS.keys()].filter((m) => m.startsWith('swap'));
    expect([...UBPF_MNEMONICS.keys()].filter((m) => !printed.has(m)).sort()).toEqual(aliases.sort());
  });
});

describe('labels', () => {
  const source = [
    '# counts down from r1',
    'mov %r0, 0',
    'loop: jeq %r1, 0, done   # label and instruction on one line',
    'add %r0, 2',
    'sub %r1, 1',
    'ja loop',
    'done:',
    'call local helper',
    'exit',
    'helper:',
    'mov %r0, 7',
    'exit',
  ].join('\n');

  it('resolve to slot offsets relative to the next instruction', () => {
    const program = parseUbpf(source, 'loop.s');
    expect(program.insns).toEqual([
      alu('MOV', true, 0, { imm: 0 }),
      jcond('JEQ', true, 1, { imm: 0 }, 3),
      alu('ADD', true, 0, { imm: 2 }),
      alu('SUB', true, 1, { imm: 1 }),
      ja(-4),
      callLocal(1),
      exit(),
      alu('MOV', true, 0, { imm: 7 }),
      exit(),
    ]);
    expect([...program.labels]).toEqual([
      ['loop', 1],
      ['done', 5],
      ['helper', 7],
    ]);
    expect(program.sourceMap.map((at) => at.line)).toEqual([2, 3, 4, 5, 6, 8, 9, 11, 12]);
  });

  it('count lddw as two slots', () => {
    const program = parseUbpf('ja over\nlddw %r0, 0x100000000\nover:\nexit', 'wide.s');
    expect(program.insns[0]).toEqual(ja(2));
  });

  it('print where the listing names the target, offsets elsewhere', () => {
    const program = parseUbpf(source, 'loop.s');
    const named = formatUbpf(textListing(program));
    expect(named).toContain('loop:\njeq %r1, 0, done\n');
    expect(named).toContain('ja loop\n');
    expect(named).toContain('call local helper\n');
    const bare = formatUbpf({ insns: program.insns });
    expect(bare).toContain('jeq %r1, 0, +3\n');
    expect(bare).toContain('ja -4\n');
    expect(bare).toContain('call local +1\n');
    for (const text of [named, bare]) expect(parseUbpf(text, 'again.s').insns).toEqual(program.insns);
  });

  it('print function names and labels at the end of the program', () => {
    const insns = [callLocal(0), exit(), ja(0)];
    const text = formatUbpf({ insns, functions: [{ name: 'sub', insn: 1, length: 2, entry: false }], labels: [{ name: 'end', insn: 3 }] });
    expect(text).toBe('call local sub\nsub:\nexit\nja end\nend:\n');
  });

  it("follow the suite's convention: an undefined `exit` label is the first exit", () => {
    const program = parseUbpf('jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit', 'x.s');
    expect(program.insns[0]).toEqual(jcond('JEQ', true, 1, { imm: 0 }, 1));
  });
});

describe('annotations', () => {
  it('relocations and source locations become comments the parser skips', () => {
    const insns = [ldImm64(1, 0n), exit()];
    const text = formatUbpf(
      { insns, relocations: [{ insn: 0, kind: 'map_value', symbol: 'config', addend: 8 }], sourceMap: [{ file: 'prog.ts', line: 12 }, undefined] },
      { source: true },
    );
    expect(text).toBe('lddw %r1, 0x0  # map_value config+8; prog.ts:12\nexit\n');
    expect(parseUbpf(text, 'annotated.s').insns).toEqual(insns);
  });
});

describe('numbers, as the suite writes them', () => {
  it('hex is a bit pattern, decimal is signed', () => {
    expect(one('mov32 %r0, 0xffffffff')).toEqual(alu('MOV', false, 0, { imm: -1 }));
    expect(one('mov32 %r0, -1')).toEqual(alu('MOV', false, 0, { imm: -1 }));
    expect(one('ldxh %r0, [%r1+0xffff]')).toEqual(ldx('H', 0, 1, -1));
    expect(one('ldxh %r0, [%r10 - 0x8]')).toEqual(ldx('H', 0, 10, -8));
    expect(one('ldxb %r0, [%r1]')).toEqual(ldx('B', 0, 1, 0));
    expect(one('lddw %r0, 18446744073709551615')).toEqual(ldImm64(0, -1n));
  });

  it('spells the suite forms: swapN is bswapN, movsx is source width then destination width', () => {
    expect(one('swap32 %r3')).toEqual(endian('bswap', 32, 3));
    expect(one('movsx832 %r2, %r1')).toEqual(movsx(false, 2, 1, 8));
    expect(one('movsx3264 %r0, %r9')).toEqual(movsx(true, 0, 9, 32));
    expect(one('lock xchg32 [%r10-8], %r1')).toEqual(atomic('W', 'XCHG', true, 10, 1, -8));
    expect(one('lock fetch or [%r10-8], %r3')).toEqual(atomic('DW', 'OR', true, 10, 3, -8));
    expect(one('call helper 5')).toEqual(callHelper(5));
  });
});

describe('errors name file:line and the problem', () => {
  const cases: [string, string, number, RegExp][] = [
    ['unknown mnemonic', 'mov %r0, 1\nmovq %r0, 1', 2, /unknown mnemonic 'movq'/],
    ['too few operands', 'add %r1', 1, /'add' takes 2 operands \(%rD, %rS or imm\), found 1/],
    ['too many operands', 'exit\nexit %r0', 2, /'exit' takes no operands, found 1/],
    ['lock with no operation', 'lock', 1, /'lock' needs an atomic operation/],
    ['lock fetch with no operation', 'lock fetch [%r1], %r2', 1, /'lock fetch' needs an atomic operation/],
    ['lock with too few operands', '\n\nlock add32 [%r1]', 3, /'lock add32' takes 2 operands/],
    ['register %r11', 'mov %r11, 1', 1, /bad register '%r11': registers are %r0-%r10/],
    ['register %r50', 'mov %r0, %r50', 1, /bad register '%r50'/],
    ['register without %', 'mov r0, 1', 1, /expected a register like %r1, found 'r0'/],
    ['decimal imm beyond int32', 'mov %r0, 2147483648', 1, /2147483648 does not fit a signed 32-bit field/],
    ['hex imm beyond 32 bits', 'mov %r0, 0x100000000', 1, /0x100000000 does not fit in 32 bits/],
    ['imm not a number', 'mov %r0, five', 1, /immediate 'five' is not a number/],
    ['memory offset beyond 16 bits', 'stw [%r1+40000], 1', 1, /offset \+40000 does not fit a signed 16-bit field/],
    ['jump offset beyond 16 bits', 'ja +32768', 1, /jump offset \+32768 does not fit a signed 16-bit field/],
    ['jump to a bare number', 'ja 3', 1, /jump target '3' is neither a label nor a signed offset/],
    ['undefined label', 'jne %r0, 0, nowhere\nexit', 1, /undefined label 'nowhere'/],
    ['duplicate label', 'a:\nexit\na:\nexit', 3, /label 'a' is already defined at line 1/],
    ['unknown directive', 'mov %r0, 0\n.section .text', 2, /unknown directive '\.section'/],
    ['register as memory operand', 'ldxw %r0, %r1', 1, /expected a memory operand like \[%r1\+8\], found '%r1'/],
    ['unknown call mode', 'call far 5', 1, /expected call \[helper\|local\|kfunc\] TARGET/],
    ['second operand of a helper call', 'call 5, 1', 1, /only a kfunc call has a second one/],
    ['unknown pseudo source', 'lddw %r1, map_ptr 3', 1, /unknown ld_imm64 source 'map_ptr'/],
    ['map fd load with an offset', 'lddw %r1, map_fd 3, 8', 1, /invalid imm2: must be 0 for a map fd load/],
    ['empty operand', 'add %r0, , 1', 1, /empty operand/],
  ];

  it.each(cases)('%s', (_name, text, line, message) => {
    let error: unknown;
    try {
      parseUbpf(text, 'bad.s');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AsmSyntaxError);
    const { at, message: actual } = error as AsmSyntaxError;
    expect({ file: at.file, line: at.line }).toEqual({ file: 'bad.s', line });
    expect(actual).toMatch(new RegExp(`^bad\\.s:${line}(:\\d+)?: `));
    expect(actual).toMatch(message);
  });

  it('points the column at the bad operand', () => {
    expect(() => parseUbpf('  add %r1, %r12', 'col.s')).toThrow(/^col\.s:1:12: bad register '%r12'/);
  });
});

describe('assembleText', () => {
  const fixture = (name: string): string => readFileSync(new URL(`./fixtures/llvm/${name}`, import.meta.url), 'utf8');

  it("detects LLVM syntax in llvm-mc input and llvm-objdump output, and assembles them", () => {
    for (const name of ['all-forms.s', 'all-forms.objdump.txt', 'pseudo-forms.objdump.txt', 'bpftool-forms.clang.s']) {
      expect(detectSyntax(fixture(name)), name).toBe('llvm');
      expect(assembleText(fixture(name), { file: name }).insns.length).toBeGreaterThan(0);
    }
  });

  it('detects ubpf from %r registers or a ubpf mnemonic, and falls back to ubpf when nothing tells', () => {
    expect(detectSyntax('# comment\nstart:\nmov %r0, 1\nexit')).toBe('ubpf');
    expect(detectSyntax('exit\nlock add [%r1], %r2')).toBe('ubpf');
    expect(detectSyntax('ja +0\nexit')).toBe('ubpf');
    expect(detectSyntax('call 1\nexit')).toBe('ubpf');
    expect(detectSyntax('lock *(u64 *)(r1 + 0) += r2\nexit')).toBe('llvm');
    expect(detectSyntax('goto +0\nexit')).toBe('llvm');
  });

  it('honours a forced syntax', () => {
    expect(() => assembleText('mov %r0, 1\nexit', { file: 'f.s', syntax: 'llvm' })).toThrow(AsmSyntaxError);
    expect(assembleText('r0 = 1\nexit', { file: 'f.s', syntax: 'llvm' }).insns).toEqual([alu('MOV', true, 0, { imm: 1 }), exit()]);
  });

  it('rejects text without instructions', () => {
    expect(() => assembleText('# nothing\nlabel:\n', { file: 'empty.s' })).toThrow(/^empty\.s:1: no instructions/);
  });
});

describe('call through a register (callx)', () => {
  // Outside RFC 9669 and rejected by Linux, but the conformance suite uses it.
  // `llvm-mc-19 -triple bpfel -mcpu=v4` encodes `callx r2` as 8d 02 00 00 00 00 00 00:
  // CALL|X with the target in dst.
  const llvmBytes = '8d02000000000000';

  it('assembles `call %r2` and `callx r2` to the bytes LLVM gives', () => {
    expect(Buffer.from(encode(parseUbpf('call %r2', 'x.s').insns)).toString('hex')).toBe(llvmBytes);
    expect(Buffer.from(encode(assembleText('callx r2', { file: 'x.s' }).insns)).toString('hex')).toBe(llvmBytes);
  });

  it('prints and reads back in both syntaxes', () => {
    const insns = decode(Buffer.from(llvmBytes, 'hex'));
    expect(disassemble({ insns }, 'llvm')).toContain('callx r2');
    expect(encode(parseUbpf(formatUbpf({ insns }), 'x.s').insns)).toEqual(encode(insns));
  });
});
