/**
 * Objects bpfgen writes, checked with tools that read them independently:
 * llvm-objdump-19 and llvm-readelf-19 (sections, symbols, relocations and
 * code), bpftool (the BTF), the UAPI header (map type numbers), and our own
 * reader (the round trip back to the program). The kernel side is in
 * kernel.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ElfError } from '../../src/asm/elf/errors.js';
import { readObject, readObjectSections } from '../../src/asm/elf/reader.js';
import { writeObject } from '../../src/asm/elf/writer.js';
import { ProgramBuilder, r0, r1 } from '../../src/asm/dsl/index.js';
import { slotOffsets, type AssembledProgram } from '../../src/asm/program.js';
import { dumpObject } from '../../src/cli/commands/dump-object.js';
import { PROGRAMS } from '../../src/programs/index.js';
import { asWritten, dumpSections, expectSameDisassembly, llvmObjdump, mapsAndCalls, tempDir } from './support.js';

const temp = tempDir('writer');
afterAll(() => temp.dispose());

const PROGRAMS_UNDER_TEST: AssembledProgram[] = [...Object.values(PROGRAMS).map((entry) => entry.build()), mapsAndCalls()];

/** `enum bpf_map_type` of the UAPI header: name -> value, counted from BPF_MAP_TYPE_UNSPEC = 0. */
function headerMapTypes(): Map<string, number> {
  const header = readFileSync('/usr/include/linux/bpf.h', 'utf8');
  const body = /enum bpf_map_type \{([\s\S]*?)\};/.exec(header)![1]!;
  const names = [...body.matchAll(/^\s*BPF_MAP_TYPE_(\w+)\s*(?:=\s*(\w+))?\s*,/gm)];
  const out = new Map<string, number>();
  let next = 0;
  for (const [, name, value] of names) {
    const v = value === undefined ? next : value.startsWith('BPF_MAP_TYPE_') ? out.get(value.slice(13))! : Number(value);
    out.set(name!.toLowerCase(), v);
    next = v + 1;
  }
  return out;
}

interface BtfDumpType {
  readonly id: number;
  readonly kind: string;
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly members: { name: string; attrs: Record<string, string> }[];
}

/** `bpftool btf dump file F` (raw format): `[3] PTR '(anon)' type_id=2` and indented member lines. */
function bpftoolBtf(path: string): Map<number, BtfDumpType> {
  const text = execFileSync('bpftool', ['btf', 'dump', 'file', path], { encoding: 'utf8', timeout: 30_000 });
  const types = new Map<number, BtfDumpType>();
  let last: BtfDumpType | undefined;
  const attrs = (rest: string) => Object.fromEntries([...rest.matchAll(/(\w+)=(\S+?),?(?=\s|$)/g)].map((m) => [m[1]!, m[2]!]));
  for (const line of text.split('\n')) {
    const type = /^\[(\d+)\] (\w+) '([^']*)'(.*)$/.exec(line);
    if (type) {
      last = { id: Number(type[1]), kind: type[2]!, name: type[3]!, attrs: attrs(type[4]!), members: [] };
      types.set(last.id, last);
      continue;
    }
    const member = /^\t(?:'([^']*)' )?(.*)$/.exec(line);
    if (member && last) last.members.push({ name: member[1] ?? '', attrs: attrs(member[2]!) });
  }
  return types;
}

function llvmReadelfSymbols(path: string): { name: string; size: number; type: string; bind: string; section: string }[] {
  const sections = new Map<string, string>();
  for (const m of execFileSync('llvm-readelf-19', ['-S', path], { encoding: 'utf8' }).matchAll(/^\s*\[\s*(\d+)\] (\S+)/gm)) sections.set(m[1]!, m[2]!);
  const out = [];
  for (const m of execFileSync('llvm-readelf-19', ['-s', path], { encoding: 'utf8' }).matchAll(/^\s*\d+: [0-9a-f]{16}\s+(\d+) (\w+)\s+(\w+)\s+\w+\s+(\w+) (\S+)$/gm)) {
    out.push({ size: Number(m[1]), type: m[2]!, bind: m[3]!, section: sections.get(m[4]!) ?? m[4]!, name: m[5]! });
  }
  return out;
}

describe.each(PROGRAMS_UNDER_TEST.map((program) => [program.name, program] as const))('%s as an object', (name, program) => {
  const bytes = writeObject([program]);
  const path = temp.file(`${name}.o`, bytes);
  const sectionName = { xdp: 'xdp', sched_cls: 'tc', socket_filter: 'socket' }[program.type as string]!;

  it('llvm-objdump -dr disassembles it as bpfgen dump --object does: instructions, symbols and relocations', () => {
    const insns = new Map(readObjectSections(bytes).sections.map((s) => [s.name, s.insns]));
    expect([...insns.keys()]).toContain(sectionName);
    expect(expectSameDisassembly(dumpObject(path, undefined, 'llvm', {}), llvmObjdump(path), insns)).toBe(program.insns.length);
  });

  it('llvm-readelf: the entry function is a global FUNC of its size in its section; subprograms static in .text; maps global objects in .maps', () => {
    const symbols = llvmReadelfSymbols(path);
    const slots = slotOffsets(program.insns);
    const bytesOf = (fn: AssembledProgram['functions'][number]) =>
      ((fn.insn + fn.length < program.insns.length ? slots[fn.insn + fn.length]! : program.bytes.byteLength / 8) - slots[fn.insn]!) * 8;
    for (const fn of program.functions) {
      const symbol = symbols.find((s) => s.name === (fn.entry ? program.name : fn.name) && s.type === 'FUNC');
      expect(symbol, fn.name).toEqual({ name: fn.entry ? program.name : fn.name, size: bytesOf(fn), type: 'FUNC', bind: fn.entry ? 'GLOBAL' : 'LOCAL', section: fn.entry ? sectionName : '.text' });
    }
    for (const map of program.maps) expect(symbols.find((s) => s.name === map.name)).toMatchObject({ type: 'OBJECT', bind: 'GLOBAL', section: '.maps' });
  });

  it('reads back as the same program: instructions, relocations, functions, labels, maps, license and source lines', () => {
    const object = readObject(bytes);
    expect(object.programs).toHaveLength(1);
    const read = object.programs[0]!;
    expect({ name: read.name, type: read.type, license: read.license }).toEqual({ name: program.name, type: program.type, license: program.license });
    expect(read.insns).toEqual(asWritten(program));
    const byInsn = (a: { insn: number }, b: { insn: number }) => a.insn - b.insn;
    expect([...read.relocations].sort(byInsn)).toEqual([...program.relocations].sort(byInsn));
    expect(read.functions).toEqual(program.functions);
    expect(read.labels.filter((l) => !program.functions.some((f) => f.insn === l.insn && f.name === l.name))).toEqual(
      program.labels.filter((l) => !program.functions.some((f) => f.insn === l.insn)),
    );
    expect(object.maps).toEqual(program.maps);
    expect(read.sourceMap).toEqual(program.sourceMap);
    expect(program.sourceMap.every((at) => at !== undefined)).toBe(true);
  });

  it('bpftool btf dump lists the functions, and per map a struct whose members encode its parameters', () => {
    const types = bpftoolBtf(path);
    const all = [...types.values()];
    const funcs = all.filter((t) => t.kind === 'FUNC');
    const byName = (a: string[], b: string[]) => a[0]!.localeCompare(b[0]!);
    expect(funcs.map((f) => [f.name, f.attrs.linkage!]).sort(byName)).toEqual(
      program.functions.map((f) => [f.entry ? program.name : f.name, f.entry ? 'global' : 'static']).sort(byName),
    );
    const mapTypes = headerMapTypes();
    const resolve = (id: string | undefined) => types.get(Number(id))!;
    for (const map of program.maps) {
      const variable = all.find((t) => t.kind === 'VAR' && t.name === map.name)!;
      expect(variable.attrs.linkage).toBe('global');
      const struct = resolve(variable.attrs.type_id);
      expect(struct.kind).toBe('STRUCT');
      const number = (member: string) => {
        const entry = struct.members.find((m) => m.name === member);
        return entry && Number(resolve(resolve(entry.attrs.type_id).attrs.type_id).attrs.nr_elems);
      };
      const sizeOf = (member: string) => {
        const entry = struct.members.find((m) => m.name === member);
        if (!entry) return undefined;
        let target = resolve(resolve(entry.attrs.type_id).attrs.type_id);
        while (target.kind === 'TYPEDEF') target = resolve(target.attrs.type_id);
        return target.kind === 'ARRAY' ? Number(target.attrs.nr_elems) : Number(target.attrs.size);
      };
      expect(number('type'), map.name).toBe(mapTypes.get(map.type));
      expect(number('max_entries')).toBe(map.maxEntries);
      expect(number('key_size') ?? sizeOf('key')).toBe(map.keySize);
      expect(number('value_size') ?? sizeOf('value')).toBe(map.valueSize);
    }
    const datasec = all.find((t) => t.kind === 'DATASEC' && t.name === '.maps');
    expect(datasec?.members.length ?? 0).toBe(program.maps.length);
  });
});

describe('objects of several programs', () => {
  const xdp = (name: string) => {
    const b = new ProgramBuilder({ name, type: 'xdp', license: 'GPL', maps: [{ name: 'shared', type: 'hash', keySize: 4, valueSize: 4, maxEntries: 8 }] });
    b.ldMap(r1, 'shared');
    b.mov(r0, 2);
    b.exit();
    return b.assemble();
  };
  const socket = () => {
    const b = new ProgramBuilder({ name: 'sock', type: 'socket_filter', license: 'GPL' });
    b.mov(r0, 0);
    b.exit();
    return b.assemble();
  };

  it('get distinct sections per type (xdp/<name> when a type repeats) and share their maps', () => {
    const bytes = writeObject([xdp('first'), xdp('second'), socket()]);
    const object = readObject(bytes);
    expect(object.sections.map((s) => s.name)).toEqual(['xdp/first', 'xdp/second', 'socket']);
    expect(object.programs.map((p) => [p.name, p.type])).toEqual([
      ['first', 'xdp'],
      ['second', 'xdp'],
      ['sock', 'socket_filter'],
    ]);
    expect(object.maps.map((m) => m.name)).toEqual(['shared']);
    const llvm = dumpSections(llvmObjdump(temp.file('several.o', bytes)));
    expect(llvm.get('xdp/second')!.relocations).toEqual([{ offset: 0, type: 'R_BPF_64_64', symbol: 'shared' }]);
  });

  const refused: [string, () => AssembledProgram[], RegExp][] = [
    ['no programs', () => [], /^no programs to write$/],
    ['two programs with one name', () => [xdp('twin'), xdp('twin')], /two programs are named twin/],
    ['different licenses', () => [xdp('a'), { ...socket(), license: 'MIT' }], /different licenses \(GPL, MIT\)/],
    [
      'one map name, two shapes',
      () => [xdp('a'), { ...xdp('b'), maps: [{ name: 'shared', type: 'array' as const, keySize: 4, valueSize: 4, maxEntries: 8 }] }],
      /map shared is declared twice differently \(hash 4\/4\/8\/0 and array 4\/4\/8\/0/,
    ],
    [
      'a direct map value load',
      () => {
        const b = new ProgramBuilder({ name: 'direct', type: 'xdp', license: 'GPL', maps: [{ name: 'cfg', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 }] });
        b.ldMapValue(r1, 'cfg', 4);
        b.ret(2);
        return [b.assemble()];
      },
      /program direct: instruction 0 reads map cfg's value directly \(map_value\); .*global variables/,
    ],
    [
      'a kfunc call',
      () => {
        const b = new ProgramBuilder({ name: 'kf', type: 'xdp', license: 'GPL' });
        b.callKfunc('bpf_rcu_read_lock');
        b.ret(2);
        return [b.assemble()];
      },
      /program kf: instruction 0 calls kernel function bpf_rcu_read_lock; a kfunc in an object needs an extern declaration/,
    ],
  ];
  for (const [what, programs, message] of refused) {
    it(`refuses ${what} with an ElfError that says why`, () => {
      const attempt = () => writeObject(programs());
      expect(attempt).toThrow(ElfError);
      expect(attempt).toThrow(message);
    });
  }
});
