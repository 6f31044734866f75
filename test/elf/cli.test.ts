/**
 * `bpfgen build` and `bpfgen dump --object`, run as users run them: the
 * CLI compiled into a temporary directory, in a child process.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readObject, readObjectSections } from '../../src/asm/elf/reader.js';
import { PROGRAMS } from '../../src/programs/index.js';
import { compiledCli, type CompiledCli } from '../cli/compiled-cli.js';
import { asWritten, expectSameDisassembly, fixturePath, llvmObjdump, tempDir } from './support.js';

let cli: CompiledCli;
const temp = tempDir('cli');
beforeAll(() => {
  cli = compiledCli();
}, 180_000);
afterAll(() => {
  cli?.dispose();
  temp.dispose();
});

describe('bpfgen build', () => {
  it('writes the program for the given options as an object, and says what it wrote', () => {
    const path = temp.file('fwd.o');
    const { status, stdout, stderr } = cli.run(['build', 'xdp-dns-forward', '--dns-ip', '192.0.2.9', '--listen-port', '5354', '-o', path]);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const expected = PROGRAMS['xdp-dns-forward']!.build({ dnsIp: '192.0.2.9', listenPort: 5354 });
    const bytes = new Uint8Array(readFileSync(path));
    expect(stdout).toBe(`${path}: xdp program xdp_dns_fwd in section xdp, ${expected.insns.length} instructions (${expected.insns.length} slots), ${bytes.byteLength} bytes\n`);
    const [program] = readObject(bytes).programs;
    expect(program!.insns).toEqual(asWritten(expected));
    // Line info names the TypeScript lines of the program, though the CLI ran compiled JavaScript.
    expect(program!.sourceMap.every((at) => at !== undefined && /src\/programs\/xdp-dns-forward\.ts$/.test(at.file))).toBe(true);

    const dump = cli.run(['dump', '--object', path]);
    expect(dump.status).toBe(0);
    const insns = new Map(readObjectSections(bytes).sections.map((s) => [s.name, s.insns]));
    expect(expectSameDisassembly(dump.stdout, llvmObjdump(path), insns)).toBe(expected.insns.length);
  });

  it('--help explains it', () => {
    const { status, stdout } = cli.run(['build', '--help']);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: bpfgen build PROGRAM \[program options\] -o FILE\.o/);
  });
});

describe('bpfgen dump --object', () => {
  it('--section picks one code section; --source adds the line info', () => {
    const { status, stdout } = cli.run(['dump', '--object', fixturePath('maps.o'), '--section', 'socket', '--source']);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^; .*maps\.o: license GPL, maps by_protocol \(hash, key 4, value 8, 64 entries\), totals/);
    expect(stdout).toContain('Disassembly of section socket:');
    expect(stdout).not.toContain('Disassembly of section tc:');
    expect(stdout).toMatch(/^\s+0:\tr6 = r1\t; \.\/maps\.c:\d+/m);
    expect(stdout).toMatch(/R_BPF_64_64\tper_cpu$/m);
  });

  it('--format json prints one section as JSON', () => {
    const { status, stdout } = cli.run(['dump', '--object', fixturePath('calls.o'), '--section', '.text', '--format', 'json']);
    expect(status).toBe(0);
    expect((JSON.parse(stdout) as unknown[]).length).toBe(readObjectSections(new Uint8Array(readFileSync(fixturePath('calls.o')))).sections.find((s) => s.name === '.text')!.insns.length);
  });

  describe('bad input: one line, exit code 2', () => {
    const cases: [string, string[], RegExp][] = [
      ['build without -o', ['build', 'xdp-dns-forward'], /^bpfgen: build: give the object to write with -o FILE\.o$/],
      ['build of an unknown program', ['build', 'nope', '-o', '/dev/null'], /^bpfgen: build: unknown program 'nope'/],
      ['an object that is not ELF', ['dump', '--object', fixturePath('maps.c')], /^bpfgen: .*maps\.c: file offset 0x0: not an ELF file \(bad magic\)$/],
      ['a section the object lacks', ['dump', '--object', fixturePath('maps.o'), '--section', 'xdp'], /^bpfgen: --section: .*maps\.o has no code section 'xdp' \(it has: tc, socket\)$/],
      ['--section without --object', ['dump', 'xdp-dns-forward', '--section', 'xdp'], /^bpfgen: --section: selects a section of an --object FILE$/],
      ['json of several sections', ['dump', '--object', fixturePath('maps.o'), '--format', 'json'], /^bpfgen: --format json: prints one section; choose one of tc, socket with --section$/],
    ];
    for (const [what, args, message] of cases) {
      it(what, () => {
        const { status, stdout, stderr } = cli.run(args);
        expect(status).toBe(2);
        expect(stdout).toBe('');
        expect(stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(stderr.trimEnd()).toMatch(message);
      });
    }
  });
});
