/**
 * Objects in the kernel, through the standard tools and through our loader.
 *
 * For every program in the registry, with its defaults and with other
 * option values: `bpftool prog load` (the verifier through libbpf) accepts
 * the object bpfgen writes; `ip link set dev lo xdpgeneric obj` and
 * `tc filter add ... bpf da obj` attach it in a namespace of our own; the
 * kernel's translation of what libbpf loaded is, as bpftool prints it,
 * what our own loader's load of the same program gives; the BTF the
 * kernel accepted lists our functions and maps; and `bpftool prog dump
 * xlated linum` shows the DSL's file and line.
 *
 * And clang's objects through our loader: they verify, run as their C
 * source says, and translate to the same code as libbpf's load of them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatBpftool } from '../../src/asm/disasm/bpftool.js';
import { writeObject } from '../../src/asm/elf/writer.js';
import { decode, type Instruction } from '../../src/asm/instruction.js';
import { LD_IMM64_CODE, PseudoSrc } from '../../src/asm/opcodes.js';
import type { AssembledProgram, SourceLocation } from '../../src/asm/program.js';
import { helperCallNamer } from '../../src/cli/kallsyms.js';
import { codecs, loadProgram, possibleCpus, VerifierError } from '../../src/loader/index.js';
import { loadObject, type LoadedObject } from '../../src/loader/object.js';
import type { Program } from '../../src/loader/program.js';
import { PROGRAMS, type OptionSpec, type ProgramEntry } from '../../src/programs/index.js';
import { bpftool, describeWithBpf, udpFrame } from '../loader/support.js';
import { kernelAtLeast } from '../support/kernel.js';
import { Netns } from '../support/netns.js';
import { fixturePath, mapsAndCalls, tempDir } from './support.js';

const PINS = `/sys/fs/bpf/bpfgen-elf-${process.pid}`;
/** Whether the kernel has ISA v4 (Linux 6.6), which v4.o uses. */
const HAS_V4 = kernelAtLeast(6, 6);

/** A value other than the default for each option, from the documentation ranges. */
function otherValue(spec: OptionSpec, index: number): unknown {
  switch (spec.kind) {
    case 'ipv4':
      return `203.0.113.${10 + index}`;
    case 'endpoint':
      return `198.51.100.${10 + index}:${20000 + index}`;
    case 'port':
      return 20000 + index;
    case 'ifindex':
      return (spec.default as number) + 1;
    case 'int':
      return spec.default;
  }
}

interface Case {
  readonly title: string;
  readonly program: () => AssembledProgram;
}

function cases(entry: ProgramEntry): Case[] {
  const other = Object.fromEntries(entry.options.map((spec, i) => [spec.name, otherValue(spec, i)]));
  return [
    { title: `${entry.name} (defaults)`, program: () => entry.build({}, { captureSites: true }) },
    { title: `${entry.name} ${entry.options.map((s) => `${s.flag} ${String(other[s.name])}`).join(' ')}`, program: () => entry.build(other, { captureSites: true }) },
  ];
}

const ALL_CASES: Case[] = [...Object.values(PROGRAMS).flatMap(cases), { title: 'maps_calls (maps, subprograms, a callback)', program: () => mapsAndCalls() }];

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

const mapNames = new Map<number, string>();
/** The kernel's name of a map by id: the two loads of a program have different maps, with the same names. */
function mapName(id: number): string {
  if (!mapNames.has(id)) mapNames.set(id, (bpftool('map', 'show', 'id', String(id)) as { name: string }).name);
  return mapNames.get(id)!;
}

/**
 * Instruction lines of `bpftool prog dump xlated` text, map ids replaced by
 * map names. bpftool also names the JIT symbol of a subprogram a call goes
 * to (`call pc+18#bpf_prog_<tag>_<name>`), which takes the program's JIT
 * information; calls are compared by their distance.
 */
function normalised(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => /^\s*\d+: /.test(line))
    .map((line) => line.replace(/map\[id:(\d+)\]/g, (_, id: string) => `map[${mapName(Number(id))}]`).replace(/(call pc[+-]\d+)#\S+$/, '$1'));
}

/** Xlated instructions with the map ids of map loads replaced by names, for comparing two loads. */
function comparable(insns: readonly Instruction[]): string[] {
  return insns.map((insn) =>
    JSON.stringify(insn.code === LD_IMM64_CODE && (insn.src === PseudoSrc.MAP_FD || insn.src === PseudoSrc.MAP_VALUE) ? { ...insn, imm: mapName(insn.imm) } : insn),
  );
}

/** The raw xlated instructions of a pinned program, as bpftool writes them to a file. */
function bpftoolXlatedInsns(pin: string, file: string): Instruction[] {
  run('bpftool', ['prog', 'dump', 'xlated', 'pinned', pin, 'file', file]);
  return decode(new Uint8Array(readFileSync(file)), { validate: false });
}

/** What our own loader's load of `program` translates to, printed as bpftool prints it. */
function ourXlated(program: Program): string {
  const insns = program.xlated();
  const callName = helperCallNamer(insns);
  return formatBpftool({ insns }, callName ? { callName } : {});
}

interface LinumRecord {
  readonly text: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** The line records of `bpftool prog dump xlated ... linum`: `; <source text> [file:F line_num:N line_col:C]`. */
function linumRecords(text: string): LinumRecord[] {
  return [...text.matchAll(/^; (.*) \[file:(.+) line_num:(\d+) line_col:(\d+)\]$/gm)].map((m) => ({ text: m[1]!, file: m[2]!, line: Number(m[3]), column: Number(m[4]) }));
}

const sameLine = (a: { file: string; line: number }, b: SourceLocation | undefined) => b !== undefined && a.file === b.file && a.line === b.line;

describeWithBpf('objects bpfgen writes, in the kernel through bpftool, ip and tc', () => {
  const temp = tempDir('kernel');
  let netns: Netns;
  beforeAll(() => {
    mkdirSync(PINS);
    netns = Netns.create('elf');
    netns.execOk('tc', ['qdisc', 'add', 'dev', 'lo', 'clsact']);
  });
  afterAll(async () => {
    rmSync(PINS, { recursive: true, force: true });
    await netns?.delete();
    temp.dispose();
  });

  ALL_CASES.forEach(({ title, program: build }, index) => {
    it(title, () => {
      const program = build();
      const path = temp.file(`case-${index}.o`, writeObject([program]));
      const pin = join(PINS, `case-${index}`);

      run('bpftool', ['prog', 'load', path, pin]);
      const ours = loadProgram(program);
      try {
        const shown = bpftool('prog', 'show', 'pinned', pin) as { id: number; name: string; btf_id: number; type: string };
        expect(shown.name).toBe(program.name.slice(0, 15));
        expect(shown.type).toBe({ xdp: 'xdp', sched_cls: 'sched_cls', socket_filter: 'socket_filter' }[program.type as string]);

        // What libbpf loaded translates exactly as what our loader loaded, instruction for instruction and as text.
        expect(comparable(bpftoolXlatedInsns(pin, temp.file(`case-${index}.xlated`)))).toEqual(comparable(ours.xlated()));
        const theirs = run('bpftool', ['prog', 'dump', 'xlated', 'pinned', pin]);
        expect(normalised(theirs)).toEqual(normalised(ourXlated(ours)));
        expect(normalised(theirs).length).toBeGreaterThanOrEqual(program.insns.length - program.relocations.filter((r) => r.kind !== 'call').length);

        // The BTF the kernel accepted describes our functions and maps.
        const btf = run('bpftool', ['btf', 'dump', 'id', String(shown.btf_id)]);
        for (const fn of program.functions) expect(btf).toContain(`FUNC '${fn.entry ? program.name : fn.name}'`);
        for (const map of program.maps) expect(btf).toContain(`VAR '${map.name}'`);
        if (program.maps.length > 0) expect(btf).toContain(`DATASEC '.maps'`);

        // Line info: every record bpftool shows is a DSL line of the program, with that line's text.
        const records = linumRecords(run('bpftool', ['prog', 'dump', 'xlated', 'pinned', pin, 'linum']));
        expect(records.length).toBeGreaterThan(1);
        expect(sameLine(records[0]!, program.sourceMap[0])).toBe(true);
        for (const record of records) {
          expect(program.sourceMap.some((at) => sameLine(record, at)), `${record.file}:${record.line}`).toBe(true);
          expect(record.file).toMatch(/\.ts$/);
          expect(existsSync(record.file)).toBe(true);
          expect(record.text).toBe(readFileSync(record.file, 'utf8').split('\n')[record.line - 1]!.trim());
        }
      } finally {
        ours.close();
        rmSync(pin);
      }

      if (program.type === 'xdp') {
        netns.execOk('ip', ['link', 'set', 'dev', 'lo', 'xdpgeneric', 'obj', path, 'sec', 'xdp']);
        const [link] = JSON.parse(netns.execOk('ip', ['-j', '-d', 'link', 'show', 'dev', 'lo'])) as { xdp?: { prog?: { name: string } } }[];
        expect(link?.xdp?.prog?.name).toBe(program.name.slice(0, 15));
        netns.execOk('ip', ['link', 'set', 'dev', 'lo', 'xdpgeneric', 'off']);
      }
      if (program.type === 'sched_cls') {
        netns.execOk('tc', ['filter', 'add', 'dev', 'lo', 'ingress', 'bpf', 'da', 'obj', path, 'sec', 'tc']);
        const filters = JSON.parse(netns.execOk('tc', ['-j', 'filter', 'show', 'dev', 'lo', 'ingress'])) as { options?: { prog?: { name: string } } }[];
        expect(filters.some((f) => f.options?.prog?.name === program.name.slice(0, 15))).toBe(true);
        netns.execOk('tc', ['filter', 'del', 'dev', 'lo', 'ingress']);
      }
    });
  });
});

describeWithBpf("clang's objects through our loader", () => {
  const temp = tempDir('clang');
  const loaded: LoadedObject[] = [];
  const load = (name: string) => {
    const object = loadObject(fixturePath(`${name}.o`));
    loaded.push(object);
    return object;
  };
  afterAll(() => {
    for (const object of loaded) object.close();
    rmSync(PINS, { recursive: true, force: true });
    temp.dispose();
  });

  if (!HAS_V4) {
    it('v4.o: libbpf (bpftool prog loadall) and our loader both refuse it on a kernel that predates ISA v4 (Linux 6.6), with the same verifier message', () => {
      const dir = join(PINS, 'clang-v4');
      mkdirSync(PINS, { recursive: true });
      const theirs = spawnSync('bpftool', ['prog', 'loadall', fixturePath('v4.o'), dir], { encoding: 'utf8', timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
      expect(theirs.status).not.toBe(0);
      let ours: unknown;
      try {
        load('v4');
      } catch (error) {
        ours = error;
      }
      expect(ours).toBeInstanceOf(VerifierError);
      const detail = (ours as VerifierError).verdict.detail;
      expect(detail).toMatch(/uses reserved fields|unknown opcode/);
      expect(theirs.stdout + theirs.stderr).toContain(detail);
    });
  }

  for (const name of HAS_V4 ? ['v4', 'maps', 'calls'] : ['maps', 'calls']) {
    // Compared as instructions: the disassembler of bpftool 7.1 predates ISA v4 (it prints `r2 = (s32)r8` as `r2 = r8`).
    it(`${name}.o: libbpf (bpftool prog loadall) and our loader give the same translated instructions and line records`, () => {
      const object = load(name);
      const dir = join(PINS, `clang-${name}`);
      mkdirSync(PINS, { recursive: true });
      run('bpftool', ['prog', 'loadall', fixturePath(`${name}.o`), dir]);
      try {
        for (const [programName, program] of object.programs) {
          const pin = join(dir, programName);
          expect(comparable(bpftoolXlatedInsns(pin, join(temp.dir, `${programName}.xlated`))), programName).toEqual(comparable(program.xlated()));
          // Each record bpftool shows is the line our reader attributes to the first instruction it covers.
          const assembled = object.object.programs.find((p) => p.name === programName)!;
          const records = linumRecords(run('bpftool', ['prog', 'dump', 'xlated', 'pinned', pin, 'linum']));
          expect(records.length).toBeGreaterThan(3);
          for (const record of records) {
            const match = assembled.sourceMap.some((at) => at && `./${at.file.replace(/^\.\//, '')}` === `./${record.file.replace(/^\.\//, '')}` && at.line === record.line && (at.column ?? 0) === record.column);
            expect(match, `${record.file}:${record.line}:${record.column}`).toBe(true);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  if (HAS_V4) it('v4.o computes signed division, modulo, sign extension, byte swap and atomics as C says', () => {
    const program = load('v4').program('v4_forms');
    const packet = new Uint8Array(64);
    const view = new DataView(packet.buffer);
    const a = -1234567;
    const b = 1000;
    view.setInt32(0, a, true);
    view.setInt32(4, b, true);
    view.setInt8(8, -100);
    view.setInt16(10, -30000, true);
    view.setUint32(12, 0x11223344, true);
    expect(program.testRun(packet).retval).toBe(2); // XDP_PASS
    const results = program.map('results', codecs.u32, codecs.i64);
    expect([0, 1, 2, 3, 4, 5].map((k) => results.get(k))).toEqual([
      BigInt(Math.trunc(a / b)),
      BigInt(a % b),
      BigInt((a << 24) >> 24),
      BigInt(-100 + -30000),
      0x44332211n,
      BigInt(a + 1), // += a, then xchg with 7 returns a, then cmpxchg(7 -> a + 1)
    ]);
  });

  it('calls.o: subprograms, the global function and the bpf_loop callback give the verdict C computes', () => {
    const program = load('calls').program('calls');
    const mix = (x: number, y: number) => ((x << 3) ^ (y >>> 1)) >>> 0;
    const fold = (x: number) => (mix(x, (x + 1) >>> 0) + mix(x >>> 16, x & 0xffff)) >>> 0;
    const verdicts = new Set<number>();
    for (const seed of [0, 1, 7, 0x12345678, 0xdeadbeef, 0xffffffff, 42, 0x80000001]) {
      const folded = (fold(seed) + 45 * (seed & 7)) >>> 0;
      const expected = Math.min(folded & 3, 2) === 2 ? 2 : 1;
      const packet = new Uint8Array(64);
      new DataView(packet.buffer).setUint32(0, seed, true);
      expect(program.testRun(packet).retval, `seed 0x${seed.toString(16)}`).toBe(expected);
      verdicts.add(expected);
    }
    expect(verdicts).toEqual(new Set([1, 2]));
  });

  it('maps.o: the tc and socket programs count in the maps they share', () => {
    const object = load('maps');
    const frame = udpFrame();
    const tc = object.program('count_protocols');
    tc.testRun(frame);
    tc.testRun(frame);
    // skb->protocol is the EtherType in network order: 0x0800 reads as 0x0008 on little-endian.
    expect([...tc.map('by_protocol', codecs.u32, codecs.u64).entries()]).toEqual([[0x0008, 2n]]);
    // A socket filter sees the packet from the network header on: skb->len leaves out the 14-byte Ethernet header.
    const length = frame.byteLength - 14;
    const socket = object.program('count_bytes');
    expect(socket.testRun(frame).retval).toBe(length);
    expect(socket.map('totals', codecs.u32, codecs.u64).get(0)).toBe(BigInt(length));
    const perCpu = socket.perCpuMap('per_cpu', codecs.u32, codecs.u64).get(0)!;
    expect(perCpu).toHaveLength(possibleCpus().length);
    expect(perCpu.reduce((sum, v) => sum + v, 0n)).toBe(1n);
  });
});
