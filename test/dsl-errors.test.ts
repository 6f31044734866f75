import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { be16, ipv4 } from '../src/asm/byteorder.js';
import { buildWithSourceMapOnDemand, ProgramBuilder, r0, r1, r10, r2, r3, reg, w1, w2 } from '../src/asm/dsl/index.js';
import { DslError } from '../src/asm/errors.js';
import { applyUdpChecksumAdjustment, udpChecksumAdjustment } from '../src/asm/packet.js';
import type { MapDefinition } from '../src/asm/program.js';

const THIS_FILE = new URL(import.meta.url).pathname;
const SOURCE_LINES = readFileSync(THIS_FILE, 'utf8').split('\n');

/** 1-based number of the only line of this file that ends with the comment `// marker`. */
function lineOf(marker: string): number {
  const hits = SOURCE_LINES.flatMap((text, i) => (text.trimEnd().endsWith(`// ${marker}`) ? [i + 1] : []));
  expect(hits, `marker ${marker}`).toHaveLength(1);
  return hits[0]!;
}

/** `action` throws a DslError whose location is this file at the marked line and whose detail matches. */
function expectDslError(action: () => unknown, marker: string, detail: RegExp): DslError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DslError);
  const error = caught as DslError;
  expect(error.message).toMatch(new RegExp(`dsl-errors\\.test\\.ts:${lineOf(marker)}:\\d+: `));
  expect(error.detail).toMatch(detail);
  return error;
}

const builder = (captureSites = true): ProgramBuilder => new ProgramBuilder({ name: 'errors', type: 'xdp', license: 'GPL', captureSites });
const array: MapDefinition = { name: 'config', type: 'array', keySize: 4, valueSize: 8, maxEntries: 1 };

describe('DSL misuse is a DslError at the caller', () => {
  it('unknown label', () => {
    const b = builder();
    b.ja('nowhere'); // @unknown-label
    b.exit();
    expectDslError(() => b.assemble(), '@unknown-label', /label 'nowhere' is not defined/);
  });

  it('duplicate label', () => {
    const b = builder();
    b.label('again');
    b.mov(r0, 0);
    expectDslError(() => b.label('again'), '@duplicate-label', /label 'again' is defined twice/); // @duplicate-label
  });

  it('label that marks no instruction', () => {
    const b = builder();
    b.ja('end');
    b.exit();
    b.label('end'); // @dangling-label
    expectDslError(() => b.assemble(), '@dangling-label', /label 'end' marks no instruction/);
  });

  it('conditional jump out of the 16-bit range', () => {
    const b = builder();
    b.jeq(r1, 0, 'far'); // @far-jump
    for (let i = 0; i < 33_000; i++) b.mov(r0, 0);
    b.label('far');
    b.exit();
    expectDslError(() => b.assemble(), '@far-jump', /33000 slots away.*invert the condition/);
  });

  it('jump into another function', () => {
    const b = builder();
    b.ja('inside'); // @cross-function
    b.subprogram('helper', () => {
      b.label('inside');
      b.exit();
    });
    expectDslError(() => b.assemble(), '@cross-function', /jumps cannot leave their function/);
  });

  it('write to r10', () => {
    const b = builder();
    expectDslError(() => (b.mov as (dst: unknown, src: number) => unknown)(r10, 1), '@write-r10', /read-only frame pointer/); // @write-r10
  });

  it('register out of range', () => {
    expectDslError(() => reg(11), '@register-range', /register 11 does not exist/); // @register-range
  });

  it('value that is not a register', () => {
    const b = builder();
    expectDslError(() => b.mov(r1, 'r2' as never), '@not-register', /must be a register or a number/); // @not-register
  });

  it('mixed register widths', () => {
    const b = builder();
    expectDslError(() => b.add(r1, w2 as never), '@mixed-width', /mixes r1 \(64-bit\) and w2 \(32-bit\)/); // @mixed-width
  });

  it('immediate beyond 32 bits', () => {
    const b = builder();
    expectDslError(() => b.add(w1, 2 ** 32), '@imm32', /does not fit in 32 bits/); // @imm32
  });

  it('64-bit operation with an immediate that would be sign-extended', () => {
    const b = builder();
    expectDslError(() => b.jeq(r1, 0x80000000, 'x'), '@sign-extended', /sign-extended to 64 bits.*w\) form/); // @sign-extended
  });

  it('offset beyond 16 bits', () => {
    const b = builder();
    expectDslError(() => b.ldx('u8', r1, r2, 40_000), '@offset16', /40000 does not fit in the signed 16-bit offset/); // @offset16
  });

  it('shift amount out of range', () => {
    const b = builder();
    expectDslError(() => b.lsh(w1, 32), '@shift', /32-bit shift amount must be 0..31/); // @shift
  });

  it('division by the constant zero', () => {
    const b = builder();
    expectDslError(() => b.mod(r1, 0), '@div-zero', /mod by the constant 0/); // @div-zero
  });

  it('movsx width', () => {
    const b = builder();
    expectDslError(() => b.movsx(w1, w2, 32), '@movsx', /movsx into w1 sign-extends from 8, 16 bits, not 32/); // @movsx
  });

  it('byte-swap width', () => {
    const b = builder();
    expectDslError(() => b.bswap(r1, 8 as never), '@swap', /byte swap width must be 16, 32, 64/); // @swap
  });

  it('store immediate wider than the store', () => {
    const b = builder();
    expectDslError(() => b.st('u8', r1, 0, 256), '@store-imm', /does not fit the 8-bit store/); // @store-imm
  });

  it('unknown helper', () => {
    const b = builder();
    expectDslError(() => b.call('bpf_map_lookup_elem' as never, r1, r2), '@unknown-helper', /unknown helper.*without the bpf_ prefix/); // @unknown-helper
  });

  it('wrong helper argument count', () => {
    const b = builder();
    expectDslError(() => b.call('map_update_elem', r1, r2, r3), '@helper-args', /map_update_elem takes 4 arguments \(r1-r4\), 3 given/); // @helper-args
  });

  it('helper argument in the wrong register', () => {
    const b = builder();
    expectDslError(() => b.call('map_lookup_elem', r1, r3), '@helper-register', /argument 2 of map_lookup_elem is passed in r2, not r3/); // @helper-register
  });

  it('reference to an undeclared map', () => {
    const b = builder();
    expectDslError(() => b.ldMap(r1, 'missing'), '@undeclared-map', /map 'missing' is not declared/); // @undeclared-map
  });

  it('map declared twice', () => {
    const b = new ProgramBuilder({ name: 'errors', type: 'xdp', license: 'GPL', maps: [array] });
    expectDslError(() => b.declareMap(array), '@duplicate-map', /map 'config' is declared twice/); // @duplicate-map
  });

  it('direct value access outside the map value', () => {
    const b = new ProgramBuilder({ name: 'errors', type: 'xdp', license: 'GPL', maps: [array] });
    expectDslError(() => b.ldMapValue(r1, 'config', 8), '@map-value', /offset 8 is outside the 8-byte value/); // @map-value
  });

  it('call of an undeclared subprogram', () => {
    const b = builder();
    b.callLocal('missing'); // @undeclared-subprogram
    b.exit();
    expectDslError(() => b.assemble(), '@undeclared-subprogram', /subprogram 'missing' is not declared/);
  });

  it('function defined twice', () => {
    const b = builder();
    b.subprogram('twice', () => b.exit());
    expectDslError(() => b.subprogram('twice', () => b.exit()), '@duplicate-function', /function 'twice' is defined twice/); // @duplicate-function
  });

  it('empty subprogram', () => {
    const b = builder();
    expectDslError(() => b.subprogram('nothing', () => undefined), '@empty-subprogram', /subprogram 'nothing' has no instructions/); // @empty-subprogram
  });

  it('falling off the end without exit', () => {
    const b = builder();
    b.mov(r0, 0); // @fall-off
    expectDslError(() => b.assemble(), '@fall-off', /can fall off its end/);
  });

  it('8-byte sign-extending load', () => {
    const b = builder();
    expectDslError(() => b.ldx('s64' as never, r1, r2, 0), '@s64', /no 64-bit sign-extending load/); // @s64
  });

  it('16-bit atomic', () => {
    const b = builder();
    expectDslError(() => b.atomic('add', 'u16' as never, r1, 0, r2), '@atomic16', /atomic operations are 32 or 64 bit only/); // @atomic16
  });

  it('ld_abs of 8 bytes', () => {
    const b = builder();
    expectDslError(() => b.ldAbs('u64' as never, 0), '@ldabs64', /legacy packet loads .* not u64/); // @ldabs64
  });

  it('empty program', () => {
    const b = builder();
    expectDslError(() => b.assemble(), '@empty-program', /program 'errors' is empty/); // @empty-program
  });

  it('more than 1,000,000 instructions', () => {
    const b = builder(false);
    expectDslError(
      () => {
        for (let i = 0; i <= 1_000_000; i++) b.mov(r0, 0); // @too-long
      },
      '@too-long',
      /exceeds the kernel's limit of 1000000 instructions/,
    );
  });

  it('invalid program name', () => {
    expectDslError(() => new ProgramBuilder({ name: 'has-dash', type: 'xdp', license: 'GPL' }), '@program-name', /program name 'has-dash'/); // @program-name
  });

  it('out-of-range byte-order and address constants', () => {
    expectDslError(() => be16(0x10000), '@be16', /be16\(65536\): expected an integer 0..65535/); // @be16
    expectDslError(() => ipv4('256.1.1.1'), '@ipv4', /'256.1.1.1' is not a dotted-quad IPv4 address/); // @ipv4
    expectDslError(() => udpChecksumAdjustment(0x10000, 1), '@checksum-word', /not a 16-bit value/); // @checksum-word
    const update = { base: r2, offset: 40, scratch: r3, whenAbsent: 'pass' };
    expectDslError(() => applyUdpChecksumAdjustment(builder(), { ...update, adjustment: 0xfffe }), '@checksum-adjustment', /not a udpChecksumAdjustment value/); // @checksum-adjustment
  });

  it('names the exact line when a build without call sites is replayed with them', () => {
    const build = (captureSites: boolean) => {
      const b = builder(captureSites);
      b.jeq(r1, 0, 'missing'); // @replayed
      b.exit();
      return b.assemble();
    };
    expectDslError(() => buildWithSourceMapOnDemand(build), '@replayed', /label 'missing' is not defined$/);
  });

  it('names the assemble() call and the instruction when call sites were not captured', () => {
    const b = builder(false);
    b.mov(r0, 0);
    b.ja('nowhere');
    const error = expectDslError(() => b.assemble(), '@no-sites', /label 'nowhere' is not defined \(instruction 1;/); // @no-sites
    expect(error.at?.file).toMatch(/test\/dsl-errors\.test\.ts$/);
  });
});

describe('DSL misuse caught by the type checker', () => {
  it('rejects r10 as a destination, mixed widths and unknown helpers at compile time', () => {
    const dsl = join(dirname(THIS_FILE), '../src/asm/dsl/index.js');
    // Each line marked `// error` must produce a diagnostic, and no other line may.
    const source = [
      `import { ProgramBuilder, r1, r2, r10, w1, w2, w10 } from ${JSON.stringify(dsl)};`,
      `const b = new ProgramBuilder({ name: 'types', type: 'xdp', license: 'GPL' });`,
      `b.mov(r1, r10);`,
      `b.mov(w1, w10);`,
      `b.jeq(r10, r1, 'x');`,
      `b.stx('u64', r10, -8, r1);`,
      `b.mov(r10, 1); // error`,
      `b.add(w10, w1); // error`,
      `b.ldx('u32', r10, r1, 0); // error`,
      `b.add(r1, w2); // error`,
      `b.jeq(w1, r2, 'x'); // error`,
      `b.call('no_such_helper'); // error`,
      `b.ldx('s64', r1, r2, 0); // error`,
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'bpfgen-types-'));
    try {
      const file = join(dir, 'misuse.mts');
      writeFileSync(file, source);
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        types: [],
        skipLibCheck: true,
      });
      const lines = ts
        .getPreEmitDiagnostics(program)
        .filter((d) => d.file?.fileName === file && d.start !== undefined)
        .map((d) => d.file!.getLineAndCharacterOfPosition(d.start!).line);
      const expected = source.split('\n').flatMap((text, i) => (text.endsWith('// error') ? [i] : []));
      expect([...new Set(lines)].sort((a, b) => a - b)).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
