/**
 * Shared by the ELF tests: the clang fixtures, a DSL program with maps,
 * subprograms and a callback, temporary files, and the disassembly text of
 * llvm-objdump -dr and of bpfgen cut into sections, functions,
 * instructions and relocation lines so that the two can be compared.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ProgramBuilder, r0, r1, r2, r3, r4, r6, r10 } from '../../src/asm/dsl/index.js';
import type { Instruction } from '../../src/asm/instruction.js';
import { XdpAction } from '../../src/asm/packet.js';
import type { AssembledProgram } from '../../src/asm/program.js';
import { PseudoSrc } from '../../src/asm/opcodes.js';
import { expectedText } from '../support/llvm-text.js';

export const CLANG_FIXTURES = ['v4', 'maps', 'calls'] as const;
export type ClangFixture = (typeof CLANG_FIXTURES)[number];

export const fixturePath = (name: string): string => new URL(`../fixtures/clang/${name}`, import.meta.url).pathname;
export const fixtureBytes = (name: ClangFixture): Uint8Array => new Uint8Array(readFileSync(fixturePath(`${name}.o`)));
export const fixtureObjdump = (name: ClangFixture): string => readFileSync(fixturePath(`${name}.objdump.txt`), 'utf8');

/** A private temporary directory; `dispose` removes it. */
export function tempDir(area: string): { dir: string; file(name: string, data?: Uint8Array): string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), `bpfgen-elf-${area}-${process.pid}-`));
  return {
    dir,
    file(name, data) {
      const path = join(dir, name);
      if (data) writeFileSync(path, data);
      return path;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `llvm-objdump-19 -dr --mcpu=v4` of a file. */
export function llvmObjdump(path: string): string {
  return execFileSync('llvm-objdump-19', ['-dr', '--mcpu=v4', path], { encoding: 'utf8', timeout: 30_000 });
}

/**
 * An XDP program with what single-function programs lack: four kinds of
 * maps (a per-CPU array and a prog_array among them, whose BTF differs),
 * subprograms that call each other, and a bpf_loop callback loaded by
 * address. It counts packets in `stats[0]` through the subprograms.
 */
export function mapsAndCalls(name = 'maps_calls'): AssembledProgram {
  const b = new ProgramBuilder({
    name,
    type: 'xdp',
    license: 'Dual MIT/GPL',
    maps: [
      { name: 'stats', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 },
      { name: 'seen', type: 'hash', keySize: 12, valueSize: 8, maxEntries: 16 },
      { name: 'per_cpu', type: 'percpu_array', keySize: 4, valueSize: 16, maxEntries: 1 },
      { name: 'jumps', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 2 },
    ],
  });
  b.st('u32', r10, -4, 0);
  b.mov(r2, r10);
  b.add(r2, -4);
  b.ldMap(r1, 'stats');
  b.call('map_lookup_elem', r1, r2);
  b.jeq(r0, 0, 'loop');
  b.mov(r1, r0);
  b.callLocal('bump');
  b.label('loop');
  b.mov(r1, 4);
  b.ldFunc(r2, 'step');
  b.mov(r3, 0);
  b.mov(r4, 0);
  b.call('loop', r1, r2, r3, r4);
  b.ret(XdpAction.PASS);
  b.subprogram('bump', (f) => {
    f.mov(r6, r1);
    f.callLocal('one');
    f.atomic('add', 'u64', r6, 0, r0);
    f.ret(0);
  });
  b.subprogram('one', (f) => f.ret(1));
  b.subprogram('step', (f) => f.ret(0));
  return b.assemble();
}

/** What reading an object gives back for a map reference: the ld_imm64 as clang writes it (pseudo source 0, no fd). */
export function asWritten(program: AssembledProgram): AssembledProgram['insns'] {
  const relocated = new Set(program.relocations.filter((r) => r.kind === 'map_fd').map((r) => r.insn));
  return program.insns.map((insn, index) => (relocated.has(index) ? { ...insn, src: PseudoSrc.IMM, imm: 0, imm2: 0 } : insn));
}

export interface DumpFunction {
  readonly name: string;
  readonly slot: number;
}

export interface DumpRelocation {
  readonly offset: number;
  readonly type: string;
  readonly symbol: string;
}

export interface DumpLine {
  readonly slot: number;
  readonly text: string;
  /** `<...>` after a jump, without the brackets. */
  readonly annotation?: string;
}

export interface DumpSection {
  /** Symbols that start a block of code (`<name>:`), in order: functions, and in llvm-objdump's text also labels. */
  readonly headers: DumpFunction[];
  readonly lines: DumpLine[];
  readonly relocations: DumpRelocation[];
}

/**
 * Sections of `llvm-objdump -dr` text, or of `bpfgen dump --object`:
 * `Disassembly of section NAME:`, symbol headers (`0000000000000000 <name>:`
 * there, `<name>:` here), instruction lines (with byte columns there) and
 * relocation lines `\t\t<offset>:  R_BPF_64_64\t<symbol>`. Whitespace is
 * normalised; bpfgen's own labels (`name:`) are kept as headers, as llvm-objdump
 * shows label symbols.
 */
export function dumpSections(text: string): Map<string, DumpSection> {
  const out = new Map<string, DumpSection>();
  let current: DumpSection | undefined;
  let pendingHeaders: string[] = [];
  for (const raw of text.split('\n')) {
    const section = /^Disassembly of section (.+):$/.exec(raw);
    if (section) {
      current = { headers: [], lines: [], relocations: [] };
      out.set(section[1]!, current);
      continue;
    }
    if (!current) continue;
    const header = /^(?:[0-9a-f]{16} )?<([^<>]+)>:$/.exec(raw) ?? /^([A-Za-z_.][\w.$]*):$/.exec(raw);
    if (header) {
      pendingHeaders.push(header[1]!);
      continue;
    }
    const relocation = /^\t\t([0-9a-f]{16}):\s+(R_BPF_\w+)\t(.+)$/.exec(raw);
    if (relocation) {
      current.relocations.push({ offset: parseInt(relocation[1]!, 16), type: relocation[2]!, symbol: relocation[3]! });
      continue;
    }
    const insn = /^\s*(\d+):\t(?:[0-9a-f]{2}(?: [0-9a-f]{2})* ?\t)?([^;]*?)(?:\t;.*)?$/.exec(raw);
    if (!insn) continue;
    const slot = Number(insn[1]);
    for (const name of pendingHeaders) current.headers.push({ name, slot });
    pendingHeaders = [];
    const body = insn[2]!.replace(/\s+/g, ' ').trim();
    const annotated = /^(.*) <([^\s<>]+)>$/.exec(body);
    current.lines.push(annotated ? { slot, text: annotated[1]!, annotation: annotated[2]! } : { slot, text: body });
  }
  return out;
}

/**
 * Our dump and llvm-objdump's, section by section: the same instruction at
 * every slot (up to the deliberate differences of support/llvm-text.ts),
 * the same jump-target names where LLVM has a symbol for the target (it
 * prints `<fn+0x18>` where there is none; we print nothing), the same
 * symbol headers and the same relocation lines. `insns` are the decoded
 * instructions of each section, which the differences need.
 */
export function expectSameDisassembly(ours: string, llvm: string, insns: ReadonlyMap<string, readonly Instruction[]>): number {
  const theirs = dumpSections(llvm);
  const mine = dumpSections(ours);
  expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
  let compared = 0;
  for (const [section, expected] of theirs) {
    const actual = mine.get(section)!;
    expect(actual.lines.map((l) => l.slot), section).toEqual(expected.lines.map((l) => l.slot));
    expected.lines.forEach((line, i) => {
      const where = `${section} slot ${line.slot}`;
      expect(actual.lines[i]!.text, where).toBe(expectedText(line, insns.get(section)![i]!));
      if (line.annotation !== undefined) expect(actual.lines[i]!.annotation, where).toBe(line.annotation.includes('+') ? undefined : line.annotation);
      compared++;
    });
    expect(actual.relocations, section).toEqual(expected.relocations);
    expect(actual.headers, section).toEqual(expected.headers);
  }
  return compared;
}
