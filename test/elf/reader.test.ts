/**
 * Reading clang-19 objects (test/fixtures/clang, made by make-fixtures.sh):
 * the disassembly against the committed llvm-objdump-19 -dr output, the
 * maps against the C declarations, programs linked as libbpf links them,
 * and objects damaged in specific ways against the error they must give.
 * Loading them into the kernel is in kernel.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ElfError } from '../../src/asm/elf/errors.js';
import { readObject, readObjectSections } from '../../src/asm/elf/reader.js';
import { CallSrc, PseudoSrc } from '../../src/asm/opcodes.js';
import { slotOffsets } from '../../src/asm/program.js';
import { dumpObject } from '../../src/cli/commands/dump-object.js';
import { CLANG_FIXTURES, expectSameDisassembly, fixtureBytes, fixtureObjdump, fixturePath, type ClangFixture } from './support.js';

describe.each(CLANG_FIXTURES.map((name) => [name] as const))('%s.o (clang-19 -O2 -g -mcpu=v4)', (name: ClangFixture) => {
  const bytes = fixtureBytes(name);

  it('bpfgen dump --object prints what llvm-objdump-19 -dr printed, up to whitespace and the deliberate differences', () => {
    const insns = new Map(readObjectSections(bytes).sections.map((s) => [s.name, s.insns]));
    // dumpObject names the file as given; objdump ran in the fixture directory.
    const compared = expectSameDisassembly(dumpObject(fixturePath(`${name}.o`), undefined, 'llvm', {}), fixtureObjdump(name), insns);
    expect(compared).toBeGreaterThan(20);
  });

  it('links every program: calls and function addresses land on the start of the function they name', () => {
    for (const program of readObject(bytes).programs) {
      const slots = slotOffsets(program.insns);
      const start = new Map(program.functions.map((f) => [f.name, slots[f.insn]!]));
      for (const r of program.relocations.filter((r) => r.kind === 'call' || r.kind === 'func_addr')) {
        const insn = program.insns[r.insn]!;
        expect(insn.src, `${program.name} insn ${r.insn}`).toBe(r.kind === 'call' ? CallSrc.LOCAL : PseudoSrc.FUNC);
        expect(slots[r.insn]! + 1 + insn.imm, `${program.name} insn ${r.insn} -> ${r.symbol}`).toBe(start.get(r.symbol));
      }
      expect(program.functions[0]).toEqual({ name: program.name, insn: 0, length: program.functions[0]!.length, entry: true });
      expect(program.functions.slice(1).every((f) => !f.entry)).toBe(true);
      expect(program.sourceMap.every((at) => at !== undefined && at.file === `./${name}.c`)).toBe(true);
    }
  });
});

describe('what the fixtures declare', () => {
  it('maps.c: three BTF-defined maps, __type and __uint sizes alike, shared by a tc and a socket program', () => {
    const object = readObject(fixtureBytes('maps'));
    expect(object.license).toBe('GPL');
    expect(object.maps).toEqual([
      { name: 'by_protocol', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 64 },
      { name: 'totals', type: 'array', keySize: 4, valueSize: 8, maxEntries: 4 },
      { name: 'per_cpu', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 1 },
    ]);
    expect(object.programs.map((p) => [p.name, p.type, p.maps.map((m) => m.name)])).toEqual([
      ['count_protocols', 'sched_cls', ['by_protocol']],
      ['count_bytes', 'socket_filter', ['totals', 'per_cpu']],
    ]);
  });

  it('calls.c: subprograms appended depth first in the order calls reach them, as libbpf does', () => {
    const [program] = readObject(fixtureBytes('calls')).programs;
    // calls -> add_step (callback address), fold (-> mix), clamp.
    expect(program!.functions.map((f) => f.name)).toEqual(['calls', 'add_step', 'fold', 'mix', 'clamp']);
    expect(program!.relocations.map((r) => `${r.kind} ${r.symbol}`).sort()).toEqual(['call clamp', 'call fold', 'call mix', 'call mix', 'func_addr add_step']);
  });

  it('v4.c: one XDP program using the array map', () => {
    const [program] = readObject(fixtureBytes('v4')).programs;
    expect([program!.name, program!.type, program!.maps]).toEqual(['v4_forms', 'xdp', [{ name: 'results', type: 'array', keySize: 4, valueSize: 8, maxEntries: 8 }]]);
  });
});

/** Section headers of an ELF64 LE file, read here independently of the reader under test. */
function sectionHeaders(bytes: Uint8Array): { name: string; at: number; nameOffset: number; offset: number; size: number; link: number; info: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const table = Number(view.getBigUint64(40, true));
  const count = view.getUint16(60, true);
  const raw = Array.from({ length: count }, (_, i) => {
    const at = table + i * 64;
    return { at, nameOffset: view.getUint32(at, true), offset: Number(view.getBigUint64(at + 24, true)), size: Number(view.getBigUint64(at + 32, true)), link: view.getUint32(at + 40, true), info: view.getUint32(at + 44, true) };
  });
  const names = raw[view.getUint16(62, true)]!;
  const name = (offset: number) => {
    const start = names.offset + offset;
    return Buffer.from(bytes.subarray(start, bytes.indexOf(0, start))).toString();
  };
  return raw.map((h) => ({ ...h, name: name(h.nameOffset) }));
}

function patched(name: ClangFixture, patch: (bytes: Uint8Array, view: DataView) => void): Uint8Array {
  const bytes = Uint8Array.from(fixtureBytes(name));
  patch(bytes, new DataView(bytes.buffer));
  return bytes;
}

const section = (bytes: Uint8Array, name: string) => sectionHeaders(bytes).find((s) => s.name === name)!;

/** Rename a section by overwriting its name in place (same length). */
function rename(bytes: Uint8Array, from: string, to: string): void {
  const header = section(bytes, from);
  const names = sectionHeaders(bytes)[new DataView(bytes.buffer).getUint16(62, true)]!;
  bytes.set(Buffer.from(to), names.offset + header.nameOffset);
}

describe('damaged objects give an ElfError naming the place', () => {
  const cases: [string, () => Uint8Array, RegExp, 'sections' | 'programs'][] = [
    ['truncated inside the header', () => fixtureBytes('v4').subarray(0, 40), /^damaged\.o: file offset 0x0: ELF header \(64 bytes\) runs past the end of the data \(40 bytes\)$/, 'sections'],
    ['cut before its section table', () => fixtureBytes('v4').subarray(0, 4000), /section header table of \d+ entries .* runs past the end of the data \(4000 bytes\)$/, 'sections'],
    ['for another machine', () => patched('v4', (_, v) => v.setUint16(18, 62, true)), /file offset 0x12: e_machine 62 is not EM_BPF \(247\): not an eBPF object$/, 'sections'],
    ['big-endian', () => patched('v4', (b) => (b[5] = 2)), /file offset 0x5: ELF data encoding 2 is not little-endian/, 'sections'],
    [
      'an undefined opcode in the code',
      () => patched('v4', (b) => (b[section(b, 'xdp').offset + 8 * 3] = 0xff)),
      /^damaged\.o: section xdp at offset 0x18: instruction 3: invalid code: opcode 0xff/,
      'sections',
    ],
    [
      'a relocation inside a 64-bit load',
      () => patched('maps', (b, v) => v.setBigUint64(section(b, '.reltc').offset, 0x30n, true)),
      /section tc at offset 0x30: relocation against by_protocol at byte 48 is inside a 64-bit immediate load$/,
      'sections',
    ],
    ['a bad BTF magic', () => patched('maps', (b, v) => v.setUint16(section(b, '.BTF').offset, 0x1234, true)), /section \.BTF at offset 0x0: bad BTF magic 0x1234 \(expected 0xeb9f\)$/, 'sections'],
    ['maps without BTF', () => patched('maps', (b) => rename(b, '.BTF', '.BTX')), /section \.maps: maps need BTF to describe them, but the object has no \.BTF section/, 'sections'],
    ['legacy maps', () => patched('maps', (b, v) => v.setUint32(section(b, '.maps').at, section(b, '.maps').nameOffset + 1, true)), /section maps: legacy map definitions \(struct bpf_map_def/, 'sections'],
    [
      'a section name that gives no program type',
      () => patched('calls', (b) => rename(b, 'xdp', 'xyz')),
      /section xyz: program calls: the section name gives no program type bpfgen knows \(xdp, .*socket/,
      'programs',
    ],
    [
      'a reference to a global variable',
      () =>
        patched('maps', (b, v) => {
          // Point the first relocation of tc at the LICENSE symbol, in the data section "license".
          const rel = section(b, '.reltc');
          const symtab = section(b, '.symtab');
          const names = section(b, '.strtab');
          for (let i = 0; i < symtab.size / 24; i++) {
            const nameAt = names.offset + v.getUint32(symtab.offset + i * 24, true);
            if (Buffer.from(b.subarray(nameAt, b.indexOf(0, nameAt))).toString() === 'LICENSE') v.setUint32(rel.offset + 12, i, true);
          }
        }),
      /section tc at offset 0x28: program count_protocols: global variable LICENSE in license: global data sections are not supported$/,
      'programs',
    ],
  ];
  for (const [what, input, message, level] of cases) {
    it(what, () => {
      const read = () => (level === 'sections' ? readObjectSections(input(), { file: 'damaged.o' }) : readObject(input(), { file: 'damaged.o' }));
      expect(read).toThrow(ElfError);
      expect(read).toThrow(message);
      if (level === 'programs') expect(() => readObjectSections(input())).not.toThrow();
    });
  }
});
