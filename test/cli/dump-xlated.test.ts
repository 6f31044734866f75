/**
 * `bpfgen dump PROGRAM --xlated` against bpftool: the kernel's translation
 * of a program, rendered by our bpftool formatter, is exactly what
 * `bpftool prog dump xlated id N` prints for it, and the CLI prints those
 * lines with the counts, tag and JIT size bpftool reports.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alu } from '../../src/asm/alu.js';
import { formatBpftool } from '../../src/asm/disasm/bpftool.js';
import { callHelper, exit } from '../../src/asm/func.js';
import { helperByName } from '../../src/asm/helpers.js';
import { jcond } from '../../src/asm/jump.js';
import { ldPseudo, ldx, stx } from '../../src/asm/load_store.js';
import { helperCallNamer } from '../../src/cli/kallsyms.js';
import { loadProgram, type Program } from '../../src/loader/index.js';
import { PROGRAMS } from '../../src/programs/index.js';
import { assembled, bpftool, describeWithBpf } from '../loader/support.js';
import { compiledCli, type CompiledCli } from './compiled-cli.js';

/** The instruction lines of `bpftool prog dump xlated id N` (bpftool prints nothing else for a program without BTF). */
function bpftoolXlated(id: number): string[] {
  const text = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(id)], { encoding: 'utf8', timeout: 30_000 });
  return text.trimEnd().split('\n');
}

const lines = (text: string): string[] => text.trimEnd().split('\n');

/**
 * Calls two helpers the kernel does not inline, so that xlated code holds
 * their addresses relative to __bpf_call_base: a hash-map lookup (becomes
 * __htab_map_lookup_elem) and ktime_get_ns.
 */
function helperCalls() {
  const helper = (name: string) => helperByName(name)!.id;
  return assembled(
    'calls',
    [
      callHelper(helper('ktime_get_ns')),
      stx('W', 10, 0, -4),
      ldPseudo(1, 'MAP_FD', 0),
      alu('MOV', true, 2, { reg: 10 }),
      alu('ADD', true, 2, { imm: -4 }),
      callHelper(helper('map_lookup_elem')),
      jcond('JEQ', true, 0, { imm: 0 }, 1),
      ldx('DW', 0, 0, 0),
      alu('MOV', true, 0, { imm: 2 }),
      exit(),
    ],
    {
      maps: [{ name: 'seen', type: 'hash', keySize: 4, valueSize: 8, maxEntries: 4 }],
      relocations: [{ insn: 2, kind: 'map_fd', symbol: 'seen' }],
    },
  );
}

describeWithBpf('bpftool-format rendering of xlated code', () => {
  const loaded: Program[] = [];
  afterAll(() => loaded.forEach((p) => p.close()));
  const load = (...args: Parameters<typeof loadProgram>) => {
    const program = loadProgram(...args);
    loaded.push(program);
    return program;
  };

  for (const entry of Object.values(PROGRAMS)) {
    it(`${entry.name}: same text as bpftool prog dump xlated`, () => {
      const program = load(entry.build());
      const insns = program.xlated();
      expect(lines(formatBpftool({ insns }, { callName: helperCallNamer(insns) }))).toEqual(bpftoolXlated(program.id));
    });
  }

  it('helper calls named through kallsyms as bpftool names them', () => {
    const program = load(helperCalls());
    const insns = program.xlated();
    const callName = helperCallNamer(insns);
    expect(callName).toBeDefined();
    const theirs = bpftoolXlated(program.id);
    expect(theirs.some((line) => /call __htab_map_lookup_elem#-?\d+$/.test(line))).toBe(true);
    expect(lines(formatBpftool({ insns }, { callName }))).toEqual(theirs);
  });
});

describeWithBpf('bpfgen dump --xlated', () => {
  let cli: CompiledCli;
  beforeAll(() => {
    cli = compiledCli();
  }, 180_000);
  afterAll(() => cli?.dispose());

  it('prints our instructions and then the kernel translation bpftool prints, with counts, tag and JIT size', () => {
    const entry = PROGRAMS['xdp-dns-forward']!;
    const reference = loadProgram(entry.build());
    let kernelLines: string[];
    let shown: { tag: string; bytes_xlated: number; bytes_jited: number };
    try {
      kernelLines = bpftoolXlated(reference.id);
      shown = bpftool('prog', 'show', 'id', String(reference.id)) as typeof shown;
    } finally {
      reference.close();
    }

    const { status, stdout, stderr } = cli.run(['dump', 'xdp-dns-forward', '--xlated']);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const out = lines(stdout);
    const kernelHeader = out.findIndex((line) => line.startsWith('; kernel: '));
    expect(kernelHeader).toBeGreaterThan(0);
    // The kernel section is exactly bpftool's text for the same program.
    expect(out.slice(kernelHeader + 1)).toEqual(kernelLines);
    expect(out[kernelHeader]).toMatch(new RegExp(`^; kernel: ${kernelLines.length} instructions \\(${shown.bytes_xlated / 8} slots\\)`));
    expect(out[0]).toMatch(new RegExp(`tag ${shown.tag}, jited ${shown.bytes_jited} bytes$`));

    // Our section is the program as built: the same text as `bpfgen dump --format bpftool` after its summary line.
    const ours = lines(cli.run(['dump', 'xdp-dns-forward', '--format', 'bpftool']).stdout).slice(1);
    expect(out.slice(2, kernelHeader)).toEqual(ours);
    expect(out[1]).toMatch(new RegExp(`^; bpfgen: ${entry.build().insns.length} instructions`));
  });

  describe('refused combinations: one line, exit code 2', () => {
    const cases: [string[], RegExp][] = [
      [['dump', 'xdp-dns-forward', '--xlated', '--format', 'llvm'], /^bpfgen: --xlated: prints the bpftool format only/],
      [['dump', '--words', '/dev/null', '--xlated'], /^bpfgen: --xlated: needs a built-in PROGRAM to load, not --words/],
    ];
    for (const [args, message] of cases) {
      it(args.join(' '), () => {
        const { status, stderr } = cli.run(args);
        expect(status).toBe(2);
        expect(stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(stderr.trimEnd()).toMatch(message);
      });
    }
  });
});
