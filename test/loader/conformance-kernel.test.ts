/**
 * The bpf_conformance suite's programs, assembled by bpfgen from their
 * `-- asm` text and run by the Linux kernel the way the suite's own libbpf
 * plugin runs them (test/support/conformance-plugin.ts): as XDP, `-- mem` as
 * the packet, r1/r2 set up by the runner's XDP prolog, and the full 64-bit
 * r0 read back through the plugin's result map and compared with
 * `-- result` in all 64 bits, as the runner does.
 *
 * Every program must pass, except those listed below with the reason the
 * verifier gives; a program giving a wrong result fails the test unless it
 * is listed in WRONG_RESULTS with a reason (there are none).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { exit } from '../../src/asm/func.js';
import { assembleText } from '../../src/asm/text/index.js';
import { codecs, loadProgram, VerifierError } from '../../src/loader/index.js';
import { CONFORMANCE_DIR, conformanceSuiteAvailable, listConformanceFiles, readConformanceFile, type ConformanceCase } from '../support/conformance.js';
import { pluginPacket, RESULT_MAP, wrapLikeLibbpfPlugin } from '../support/conformance-plugin.js';
import { describeWithBpf, kernelRunsGotol } from './support.js';
import { encode } from '../../src/asm/instruction.js';
import { isaV4Parts, kernelAtLeast } from '../support/kernel.js';

const EXPECTED_FILES = 313;
const EXPECTED_PASSES = 300;

/**
 * Programs the verifier refuses, grouped by its message. RFC 9669 leaves
 * shifts by more than the operand width to the runtime (the suite expects
 * the count to be masked); Linux refuses a constant shift count outside
 * 0..31 or 0..63 at load time. `call %r2` (callx) is not an instruction
 * Linux knows.
 */
const REJECTIONS = [
  {
    reason: /^invalid shift -?\d+$/,
    why: 'constant shift count outside 0..width-1',
    names: [
      'arsh32-imm-high', 'arsh32-imm-neg', 'arsh64-imm-high', 'arsh64-imm-neg',
      'lsh32-imm-high', 'lsh32-imm-neg', 'lsh64-imm-high', 'lsh64-imm-neg',
      'rsh32-imm-high', 'rsh32-imm-neg', 'rsh64-imm-high', 'rsh64-imm-neg',
    ],
  },
  { reason: /^unknown opcode 8d$/, why: 'callx (BPF_CALL | BPF_X) is not in the Linux ISA', names: ['callx'] },
] as const;

/** How kernels before 6.6, which predate ISA v4, refuse its instructions. */
const PRE_V4_REFUSAL = /^(unknown opcode [0-9a-f]+|BPF_(ALU|MOV|LDX|JMP32?) uses reserved fields|invalid BPF_JMP32 opcode [0-9a-f]+)$/;

/** Programs allowed to give a result other than `-- result`, by name, with the reason. None. */
const WRONG_RESULTS: Readonly<Record<string, string>> = {};

type Outcome =
  | { readonly kind: 'pass'; readonly r0: bigint; readonly retval: number }
  | { readonly kind: 'wrong'; readonly r0: bigint | undefined; readonly retval: number }
  | { readonly kind: 'rejected'; readonly error: VerifierError };

/** Load, run and read back one suite program as the plugin would. */
function runInKernel(test: ConformanceCase): Outcome {
  const text = assembleText(test.asm!, { file: test.path });
  let program;
  try {
    // The kernel keeps 15 characters of a program name; the suite's tests share one name in the plugin too.
    program = loadProgram(wrapLikeLibbpfPlugin('conformance', text, test.mem.byteLength), { expectedAttachType: 'xdp' });
  } catch (error) {
    if (error instanceof VerifierError) return { kind: 'rejected', error };
    throw error;
  }
  try {
    const { retval } = program.testRun(pluginPacket(test.mem));
    const r0 = program.map(RESULT_MAP.name, codecs.u32, codecs.u64).get(0);
    return r0 !== undefined && r0 === test.result ? { kind: 'pass', r0, retval } : { kind: 'wrong', r0, retval };
  } finally {
    program.close();
  }
}

describe('the wrapper', () => {
  it('is word for word the runner\'s XDP prolog and the plugin\'s return-value caller (before the map relocation)', () => {
    const wrapped = wrapLikeLibbpfPlugin('t', { insns: [exit()], sourceMap: [undefined] }, 8);
    const words = Buffer.from(wrapped.bytes).toString('hex').match(/.{16}/g);
    expect(words).toEqual([
      // generate_64_bit_return_value_fixup: call +4; r1 = map value (ld_imm64, src 2); *(u64 *)(r1 + 0) = r0; exit
      '8510000004000000', '1821000000000000', '0000000000000000', '7b01000000000000', '9500000000000000',
      // _generate_xdp_prolog(8): r0 = -1; r6 = r1; r1 = data; r2 = data_end; r3 = r1; r3 += 8; if r3 <= r2 goto +1; exit; r2 = 8
      'b7000000ffffffff', 'bf16000000000000', '6161000000000000', '6162040000000000', 'bf13000000000000',
      '0703000008000000', 'bd23010000000000', '9500000000000000', 'b702000008000000',
      // the test program
      '9500000000000000',
    ]);
  });

  it('adds no prolog when the test has no memory, and pads memory to 14 bytes', () => {
    expect(wrapLikeLibbpfPlugin('t', { insns: [exit()], sourceMap: [undefined] }, 0).insns).toHaveLength(5);
    expect(pluginPacket(Uint8Array.of(1, 2))).toEqual(Uint8Array.of(1, 2, ...new Array<number>(12).fill(0)));
    const long = new Uint8Array(20).fill(7);
    expect(pluginPacket(long)).toBe(long);
  });
});

const available = conformanceSuiteAvailable();
if (!available) console.warn(`bpf_conformance suite not found at ${CONFORMANCE_DIR}; skipping the kernel conformance run`);

describeWithBpf('bpf_conformance tests/ in the Linux kernel, wrapped as by the libbpf plugin', () => {
  if (!available) {
    it.skip('needs the bpf_conformance suite beside the project (../shared/conformance)', () => {});
    return;
  }
  const cases = listConformanceFiles('tests').map(readConformanceFile);
  const outcomes = new Map<string, Outcome>();
  // On a kernel before 6.6 the verifier also refuses every program that uses
  // an ISA v4 instruction, except gotol where the kernel has it backported.
  const hasV4 = kernelAtLeast(6, 6);
  const hasGotol = hasV4 || kernelRunsGotol();
  const v4Refused = new Set(
    cases
      .filter((test) => [...isaV4Parts(encode(assembleText(test.asm!, { file: test.path }).insns))].some((part) => !hasV4 && !(part === 'gotol' && hasGotol)))
      .map((test) => test.name),
  );
  const rejectionFor = (name: string) =>
    REJECTIONS.find((group) => (group.names as readonly string[]).includes(name)) ??
    (v4Refused.has(name) ? { reason: PRE_V4_REFUSAL, why: 'it uses ISA v4, which this kernel predates (Linux 6.6)' } : undefined);
  const expectedRejections = REJECTIONS.reduce((n, g) => n + g.names.length, 0) + v4Refused.size;

  it(`has the ${EXPECTED_FILES} programs of suite commit f558566`, () => {
    expect(cases).toHaveLength(EXPECTED_FILES);
  });

  describe.each(cases.map((test) => [test.name, test] as const))('%s', (name, test) => {
    it(rejectionFor(name) ? `is rejected by the verifier: ${rejectionFor(name)!.why}` : `gives r0 = 0x${test.result?.toString(16)}`, () => {
      const outcome = runInKernel(test);
      outcomes.set(name, outcome);
      const rejection = rejectionFor(name);
      if (rejection) {
        expect(outcome.kind).toBe('rejected');
        if (outcome.kind !== 'rejected') return;
        expect(outcome.error.verdict.detail).toMatch(rejection.reason);
        return;
      }
      if (outcome.kind === 'rejected') expect.fail(`the verifier rejected ${name}: ${outcome.error.message}`);
      if (outcome.kind === 'wrong' && WRONG_RESULTS[name]) return;
      expect(outcome.r0, `r0 of ${name}`).toBe(test.result);
      // The caller exits with the test's r0, so the XDP verdict is its low 32 bits.
      expect(outcome.retval).toBe(Number(BigInt.asUintN(32, test.result!)));
    });
  });

  it('points verifier errors at the .data line of the refused instruction', () => {
    const test = cases.find((c) => c.name === 'lsh64-imm-high')!;
    const outcome = outcomes.get(test.name) ?? runInKernel(test);
    expect(outcome.kind).toBe('rejected');
    if (outcome.kind !== 'rejected') return;
    const at = outcome.error.at!;
    expect(at.file).toBe(test.path);
    expect(test.asm!.split('\n')[at.line - 1]).toMatch(/^\s*lsh %r0, 68\b/);
  });

  afterAll(() => {
    if (outcomes.size === 0) return;
    const by = (kind: Outcome['kind']): string[] => [...outcomes].filter(([, o]) => o.kind === kind).map(([name]) => name);
    const groups = new Map<string, string[]>();
    for (const [name, outcome] of outcomes) {
      if (outcome.kind !== 'rejected') continue;
      const reason = outcome.error.verdict.detail.replace(/-?\d+$/, 'N');
      groups.set(reason, [...(groups.get(reason) ?? []), name]);
    }
    const lines = [
      `kernel conformance: ${outcomes.size} programs run as XDP: ${by('pass').length} pass, ${by('rejected').length} rejected by the verifier, ${by('wrong').length} wrong results`,
      ...[...groups].map(([reason, names]) => `  rejected "${reason}" (${names.length}): ${names.join(', ')}`),
      ...by('wrong').map((name) => `  wrong result: ${name}${WRONG_RESULTS[name] ? ` (allowed: ${WRONG_RESULTS[name]})` : ''}`),
    ];
    console.log(lines.join('\n'));
  });

  it(`passes exactly ${EXPECTED_PASSES - v4Refused.size} and the verifier rejects exactly ${expectedRejections}`, () => {
    for (const test of cases) if (!outcomes.has(test.name)) outcomes.set(test.name, runInKernel(test));
    const count = (kind: Outcome['kind']): number => [...outcomes.values()].filter((o) => o.kind === kind).length;
    expect(count('pass')).toBe(EXPECTED_PASSES - v4Refused.size);
    expect(count('rejected')).toBe(expectedRejections);
    expect([...outcomes].filter(([, o]) => o.kind === 'wrong').map(([name]) => name).sort()).toEqual(Object.keys(WRONG_RESULTS).sort());
    expect(count('pass') + count('rejected') + count('wrong')).toBe(EXPECTED_FILES);
  });
});
