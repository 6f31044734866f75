/**
 * The text assembler, the disassemblers and the decoder against the
 * bpf_conformance suite (../shared/conformance/bpf_conformance), an oracle
 * written outside bpfgen: its programs must assemble (to its `-- raw` words
 * where given), survive dump → assemble in both syntaxes, and its negative
 * programs must be rejected with a message that names the problem.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { disassemble } from '../src/asm/disasm/index.js';
import { formatUbpf } from '../src/asm/disasm/ubpf.js';
import { AsmSyntaxError } from '../src/asm/errors.js';
import { decode, encode, EncodingError, type Field } from '../src/asm/instruction.js';
import { assembleText, detectSyntax, textListing, type TextProgram } from '../src/asm/text/index.js';
import { parseUbpf } from '../src/asm/text/ubpf.js';
import {
  CONFORMANCE_DIR,
  conformanceSuiteAvailable,
  listConformanceFiles,
  readConformanceFile,
  type ConformanceCase,
} from './support/conformance.js';

const available = conformanceSuiteAvailable();
if (!available) console.warn(`bpf_conformance suite not found at ${CONFORMANCE_DIR}; skipping the conformance tests`);

const EXPECTED_TEST_FILES = 313;
const EXPECTED_NEGATIVE_FILES = 60;

const load = (path: string): ConformanceCase => readConformanceFile(path);
const bytesOf = (program: TextProgram): Buffer => Buffer.from(encode(program.insns));

describe.skipIf(!available)('bpf_conformance tests/', () => {
  const files = available ? listConformanceFiles('tests') : [];
  const pathByName = new Map(files.map((path) => [load(path).name, path]));
  const assembled = new Map<string, TextProgram>();
  /** Assemble a suite program once; the round-trip tests reuse it. */
  const program = (name: string): TextProgram => {
    let found = assembled.get(name);
    if (!found) {
      const path = pathByName.get(name)!;
      found = assembleText(load(path).asm!, { file: path });
      assembled.set(name, found);
    }
    return found;
  };

  it(`has the ${EXPECTED_TEST_FILES} programs of commit f558566`, () => {
    expect(files).toHaveLength(EXPECTED_TEST_FILES);
  });

  describe('every -- asm section assembles (auto syntax), to the -- raw words where given', () => {
    it.each([...pathByName])('%s', (name, path) => {
      const test = load(path);
      expect(test.asm, 'every tests/ file has an asm section').toBeDefined();
      expect(detectSyntax(test.asm!)).toBe('ubpf');
      if (test.raw) expect(bytesOf(program(name)).toString('hex')).toBe(Buffer.from(test.raw).toString('hex'));
      else expect(program(name).insns.length).toBeGreaterThan(0);
    });
  });

  it('assembles every program', () => {
    const names = [...pathByName.keys()];
    const count = names.filter((name) => program(name)).length;
    const withRaw = files.filter((path) => load(path).raw).length;
    console.log(
      `conformance: ${count}/${files.length} tests/*.data assembled (${withRaw} checked against -- raw)`,
    );
    expect(count).toBe(EXPECTED_TEST_FILES);
  });

  describe('round trips of every assembled program', () => {
    const names = [...pathByName.keys()];

    it.each(names)('%s: decode(encode(x)) is x', (name) => {
      const { insns } = program(name);
      expect(decode(encode(insns))).toEqual(insns);
    });

    it.each(names)('%s: dump as LLVM pseudo-C, assemble again, same bytes', (name) => {
      const original = program(name);
      for (const listing of [textListing(original), { insns: original.insns }]) {
        const text = disassemble(listing, 'llvm');
        expect(detectSyntax(text)).toBe('llvm');
        expect(bytesOf(assembleText(text, { file: `${name}.llvm.s` })).toString('hex')).toBe(bytesOf(original).toString('hex'));
      }
    });

    it("formatUbpf speaks the suite's dialect: it prints only mnemonics the suite's own programs use", () => {
      const mnemonicOf = (line: string): string | undefined => {
        const code = line.replace(/#.*/, '').trim();
        if (code === '' || /^[\w.]+:$/.test(code)) return undefined;
        return code.startsWith('lock') ? code.slice(0, code.indexOf('[')).trim() : code.split(/\s/)[0];
      };
      const vocabulary = (text: string): Set<string> => new Set(text.split('\n').map(mnemonicOf).filter((m) => m !== undefined));
      const suite = new Set(names.flatMap((name) => [...vocabulary(load(pathByName.get(name)!).asm!)]));
      const printed = new Set(names.flatMap((name) => [...vocabulary(formatUbpf({ insns: program(name).insns }))]));
      expect(printed.size).toBeGreaterThan(50);
      expect([...printed].filter((m) => !suite.has(m))).toEqual([]);
    });

    it.each(names)('%s: print as ubpf, parse again, same bytes', (name) => {
      const original = program(name);
      for (const listing of [textListing(original), { insns: original.insns }]) {
        const text = formatUbpf(listing, { source: true });
        expect(bytesOf(parseUbpf(text, `${name}.ubpf.s`)).toString('hex')).toBe(bytesOf(original).toString('hex'));
      }
    });
  });
});

/** How each negative program fails. */
type Rejection =
  | { as: 'text'; message: RegExp; lineText?: string }
  | { as: 'encoding'; field: Field }
  | { as: 'runtime'; why: string };

/** The syntax errors, each with what the message must say and the line it must point at. */
const TEXT_REJECTIONS: Record<string, Extract<Rejection, { as: 'text' }>> = {
  empty: { as: 'text', message: /no instructions/ },
  empty_instructions: { as: 'text', message: /no instructions/ },
  invalid_imm32_dec_range: { as: 'text', message: /immediate 2147483648 does not fit a signed 32-bit field/, lineText: 'mov32 %r0, 2147483648' },
  invalid_imm32_hex_range: { as: 'text', message: /immediate 0x100000000 does not fit in 32 bits/, lineText: 'mov32 %r0, 0x100000000' },
  invalid_label: { as: 'text', message: /undefined label 'NOT_A_LABEL'/, lineText: 'ja NOT_A_LABEL' },
  invalid_lock: { as: 'text', message: /'lock or' takes 2 operands \(\[%rD\+off\], %rS\), found 1/, lineText: 'lock or [%r10-8]' },
  invalid_lock2: { as: 'text', message: /'lock' needs an atomic operation and 2 operands/, lineText: 'lock' },
  invalid_mnemonic: { as: 'text', message: /unknown mnemonic 'ldxq'/, lineText: 'ldxq %r0, %r1' },
  invalid_offset: { as: 'text', message: /expected a memory operand like \[%r1\+8\], found '%r1'/, lineText: 'ldxb %r0, %r1' },
  invalid_offset_range: { as: 'text', message: /offset \+0x10000 does not fit in 16 bits/, lineText: 'ldxb %r0, [%r1+0x10000]' },
  invalid_operand_count: { as: 'text', message: /'lddw' takes 2 operands \(%rD, imm64\), found 1/, lineText: 'lddw %r0' },
  invalid_register: { as: 'text', message: /bad register '%r50': registers are %r0-%r10/, lineText: 'or %r0, %r50' },
  invalid_unknown_directive: { as: 'text', message: /unknown directive '-- Unknown directive'/, lineText: '-- Unknown directive' },
};

/** Valid programs whose failure the suite checks by running them. */
const RUNTIME_REJECTIONS: Record<string, Extract<Rejection, { as: 'runtime' }>> = {
  error: { as: 'runtime', why: 'reads r0 before any write to it, which only a verifier or runtime notices' },
  incorrect_return_value_high_bits: { as: 'runtime', why: 'valid program; the suite expects a wrong r0 to be reported' },
};

/** The suite's names spell the unused field that is set: unused-add64_imm-offset sets off. */
const FIELD_IN_NAME: Record<string, Field> = { dst: 'dst', src: 'src', offset: 'off', imm: 'imm' };

function expectedRejection(name: string): Rejection | undefined {
  const unused = /^unused-.+-(dst|src|offset|imm)$/.exec(name);
  if (unused) return { as: 'encoding', field: FIELD_IN_NAME[unused[1]!]! };
  return TEXT_REJECTIONS[name] ?? RUNTIME_REJECTIONS[name];
}

/** Run the front door the way a loader would: text if there is any, otherwise the raw bytes through decode. */
function attempt(test: ConformanceCase): void {
  if (test.raw) decode(test.raw);
  else assembleText(test.asm ?? '', { file: test.path });
}

describe.skipIf(!available)('bpf_conformance negative/', () => {
  const files = available ? listConformanceFiles('negative') : [];
  const counts = { text: 0, encoding: 0, runtime: 0 };
  const runtimeOnly: string[] = [];
  const nameOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1, -'.data'.length);

  it(`has the ${EXPECTED_NEGATIVE_FILES} negative programs, each with a known way to fail`, () => {
    expect(files).toHaveLength(EXPECTED_NEGATIVE_FILES);
    expect(files.map(nameOf).filter((name) => !expectedRejection(name))).toEqual([]);
  });

  it.each(files.map((path) => [nameOf(path), path]))('%s', (name, path) => {
    const expected = expectedRejection(name);
    if (!expected) throw new Error(`${name}: no expectation recorded for this negative test`);
    let test: ConformanceCase | undefined;
    let error: unknown;
    try {
      test = load(path);
      attempt(test);
    } catch (caught) {
      error = caught;
    }
    counts[expected.as]++;
    switch (expected.as) {
      case 'text': {
        expect(error).toBeInstanceOf(AsmSyntaxError);
        const { at, message } = error as AsmSyntaxError;
        expect(message).toMatch(expected.message);
        expect(at.file).toBe(path);
        expect(message.startsWith(`${path}:${at.line}`)).toBe(true);
        if (expected.lineText) expect(readFileSync(path, 'utf8').split('\n')[at.line - 1]!.trim()).toBe(expected.lineText);
        break;
      }
      case 'encoding': {
        expect(test?.raw, 'the encoding negatives carry raw bytes').toBeDefined();
        expect(error).toBeInstanceOf(EncodingError);
        const { slot, field, message } = error as EncodingError;
        expect({ slot, field }).toEqual({ slot: 0, field: expected.field });
        // Each of these files sets its unused field to 1; the message must name the field and that value.
        expect(message).toMatch(new RegExp(`^instruction 0: invalid ${field}: .*\\b1\\b`));
        break;
      }
      case 'runtime':
        expect(error).toBeUndefined();
        expect(test!.result !== undefined || test!.error !== undefined).toBe(true);
        runtimeOnly.push(`${name} (${expected.why})`);
        break;
    }
  });

  afterAll(() => {
    if (!available) return;
    console.log(
      `conformance negative/: ${counts.text} rejected as text, ${counts.encoding} rejected as encoding, ` +
        `${counts.runtime} runtime-only: ${runtimeOnly.join('; ')}`,
    );
  });

  it('splits into 13 text, 45 encoding and 2 runtime-only rejections', () => {
    const kinds = files.map((path) => expectedRejection(nameOf(path))?.as);
    expect({
      text: kinds.filter((k) => k === 'text').length,
      encoding: kinds.filter((k) => k === 'encoding').length,
      runtime: kinds.filter((k) => k === 'runtime').length,
    }).toEqual({ text: 13, encoding: 45, runtime: 2 });
  });
});
