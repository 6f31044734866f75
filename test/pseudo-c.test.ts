/**
 * The pseudo-C (LLVM syntax) assembler beyond all-forms.s: compiler output,
 * dumps with every decoration, every form bpfgen supports, and errors.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatLlvmInstruction } from '../src/asm/disasm/llvm.js';
import { AsmSyntaxError } from '../src/asm/errors.js';
import { classify, encode } from '../src/asm/instruction.js';
import { parsePseudoC } from '../src/asm/text/pseudo-c.js';
import { everyForm } from './support/forms.js';

const fixture = (name: string): string => new URL(`./fixtures/llvm/${name}`, import.meta.url).pathname;
const readText = (name: string): string => readFileSync(fixture(name), 'utf8');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Bytes of each function in an llvm-objdump listing, by the `<name>:` header it follows. */
function objdumpFunctions(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+ <([^>]+)>:$/.exec(line);
    if (header) out.set(header[1]!, (current = []));
    const insn = /^\s*\d+:\t([0-9a-f ]+)\t/.exec(line);
    if (insn && current) current.push(insn[1]!.trim().replace(/ /g, ''));
  }
  return out;
}

describe('clang-19 -S output (bpftool-forms.clang.s)', () => {
  const program = parsePseudoC(readText('bpftool-forms.clang.s'), 'bpftool-forms.clang.s');
  const objdump = readText('bpftool-forms.objdump.txt');
  const reference = objdumpFunctions(objdump);

  it('assembles each function to the bytes clang put in the object, but for the call LLVM leaves to the linker', () => {
    const starts = [...reference.keys()].map((name) => [name, program.labels.get(name)!] as const).sort((a, b) => a[1] - b[1]);
    const differing: string[] = [];
    for (const [i, [name, start]] of starts.entries()) {
      const end = starts[i + 1]?.[1] ?? program.insns.length;
      const ours = program.insns.slice(start, end).map((insn) => hex(encode([insn])));
      const theirs = reference.get(name)!;
      expect(ours.length, name).toBe(theirs.length);
      ours.forEach((bytes, k) => {
        if (bytes !== theirs[k]) differing.push(`${name}+${k}: ${theirs[k]} -> ${bytes}`);
      });
    }
    // `call mix` crosses sections: the object holds `call -1` and an
    // R_BPF_64_32 relocation; assembled as one program it is a direct call.
    expect(differing).toHaveLength(1);
    expect(differing[0]).toMatch(/^calls\+\d+: 85100000ffffffff -> 85100000/);
    const call = program.insns[program.labels.get('calls')! + Number(/\+(\d+)/.exec(differing[0]!)![1])]!;
    expect(classify(call)).toEqual({ kind: 'call', target: 'LOCAL' });
  });

  it('records `rN = symbol ll` as the relocations llvm-objdump -dr shows', () => {
    const objdumpSymbols = [...objdump.matchAll(/R_BPF_64_64\t(\S+)/g)].map((m) => m[1]);
    expect(program.relocations.map((r) => r.symbol)).toEqual(objdumpSymbols);
  });
});

describe('round trip of every form through formatLlvmInstruction', () => {
  for (const [name, insn] of everyForm()) {
    it(name, () => {
      const text = formatLlvmInstruction(insn);
      expect(parsePseudoC(text, 'form.s').insns, text).toEqual([insn]);
    });
  }
});

describe('text around the instructions', () => {
  it('skips slot prefixes, byte columns, headers, annotations, comments and directives', () => {
    const text = [
      'prog.o:\tfile format elf64-bpf',
      'Disassembly of section .text:',
      '0000000000000000 <main>:',
      '       0:\tb7 00 00 00 00 00 00 00\tr0 = 0x0 ; zero',
      '\t.p2align 3',
      '       1:\tif r1 == 0 goto +1 <out>   // skip',
      '  2: r0 = 18 ll # decimal',
      'out: exit',
      '<helper>:',
      '       5:\tr0 = -1',
    ].join('\n');
    const program = parsePseudoC(text, 'dump.s');
    expect(program.insns.map((insn) => formatLlvmInstruction(insn))).toEqual([
      'r0 = 0x0',
      'if r1 == 0x0 goto +0x1',
      'r0 = 0x12 ll',
      'exit',
      'r0 = -0x1',
    ]);
    expect([...program.labels]).toEqual([
      ['main', 0],
      ['out', 3],
      ['helper', 4],
    ]);
    expect(program.sourceMap[2]).toEqual({ file: 'dump.s', line: 7, column: 6 });
  });

  it('resolves jumps and calls to labels, forwards and backwards', () => {
    const program = parsePseudoC(['top:', '  call fn', '  goto top', '  gotol end', 'fn:', '  exit', 'end:', '  exit'].join('\n'), 'x.s');
    expect(program.insns.map((insn) => formatLlvmInstruction(insn))).toEqual(['call pc+0x2', 'goto -0x2', 'gotol +0x1', 'exit', 'exit']);
  });

  it('attaches relocation lines to the instruction before them, by the kind of instruction', () => {
    const text = [
      '0: r1 = map_fd(0x0) ll',
      '\t\t0000000000000000:  R_BPF_64_64\tcounters',
      '2: r2 = map_value(0x0, 0x10) ll',
      '\t\t0000000000000010:  R_BPF_64_64\tconfig+0x10',
      '4: call pc+0x1',
      'R_BPF_64_32 sub',
      '5: call kfunc 0x0',
      'R_BPF_64_32 bpf_obj_new_impl',
      '6: exit',
    ].join('\n');
    expect(parsePseudoC(text, 'x.s').relocations).toEqual([
      { insn: 0, kind: 'map_fd', symbol: 'counters' },
      { insn: 1, kind: 'map_value', symbol: 'config', addend: 16 },
      { insn: 2, kind: 'call', symbol: 'sub' },
      { insn: 3, kind: 'kfunc', symbol: 'bpf_obj_new_impl' },
    ]);
  });
});

describe('errors name file:line:column and what was expected', () => {
  const cases: [string, string, RegExp][] = [
    ['unknown mnemonic', 'r0 = 0\nmov r0, 1', /^prog\.s:2:1: expected an instruction, found 'mov'/],
    ['unknown operator', '  r1 := 2', /^prog\.s:1:6: expected an assignment operator \(/],
    ['register that does not exist', 'r11 = 1', /^prog\.s:1:1: register r11 does not exist/],
    ['32-bit register in a 64-bit operation', 'r1 += w2', /^prog\.s:1:7: expected a register r0-r10, found 'w2'/],
    ['64-bit load into a 32-bit register', 'w1 = *(u64 *)(r2 + 0)', /^prog\.s:1:14: a u64 load writes a 64-bit register/],
    ['missing operand', 'r1 +=', /^prog\.s:1:6: expected immediate, found end of line/],
    ['immediate out of range', 'r1 += 0x100000000', /^prog\.s:1:7: immediate 0x100000000 does not fit in 32 bits/],
    ['mov immediate out of range', 'r1 = 0x100000000', /^prog\.s:1:\d+: immediate 4294967296 does not fit in 32 bits \(add 'll'/],
    ['memory offset out of range', 'r1 = *(u64 *)(r2 + 40000)', /^prog\.s:1:20: offset 40000 is out of range \(-32768 to 32767\)/],
    ['jump offset out of range', 'goto +32768', /^prog\.s:1:6: jump offset \+32768 is out of range/],
    ['undefined label', 'exit\n  if r1 > r2 goto nowhere', /^prog\.s:2:3: undefined label 'nowhere'/],
    ['label defined twice', 'a:\nexit\na:\nexit', /^prog\.s:3:1: label 'a' is defined twice/],
    ['trailing garbage', 'exit now', /^prog\.s:1:6: expected end of instruction, found 'now'/],
    ['bad byte-swap width', 'r1 = le8 r1', /^prog\.s:1:\d+: byte swap width 8 is not 16, 32, 64/],
    ['negation of another register', 'r1 = -r2', /^prog\.s:1:7: expected r1 \(the destination register\), found r2/],
    ['map load with a second imm the kernel forbids', 'r1 = map_fd(1, 2) ll', /^prog\.s:1:1: invalid imm2: must be 0 for a map fd load/],
    ['relocation before any instruction', 'R_BPF_64_64 counters', /^prog\.s:1:1: relocation before any instruction/],
  ];
  for (const [name, text, message] of cases) {
    it(name, () => {
      let error: unknown;
      try {
        parsePseudoC(text, 'prog.s');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AsmSyntaxError);
      expect((error as Error).message).toMatch(message);
    });
  }
});
