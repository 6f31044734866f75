/**
 * Configuration sweep: every registered program, built for 1,000 seeded
 * random configurations (the edges of every option's range first, then
 * values that favour the edges, with options of one kind made equal now
 * and then), loads: the verifier rejects none of them.
 *
 * Invalid values of every option, and unknown options, are rejected by
 * bpfgen (OptionError naming the flag) before the kernel sees anything:
 * the bpf() calls of this process are counted through the native shim, and
 * none may happen — neither when building, nor through the attach APIs
 * (`ATTACHABLE`, attachDnsForward, attachDnsRedirect, captureDns), which
 * validate before they resolve interfaces or load.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { AttachOptionSpec } from '../../src/loader/attach-options.js';
import { ATTACHABLE } from '../../src/loader/attachment.js';
import { captureDns } from '../../src/loader/dns-capture.js';
import { attachDnsForward } from '../../src/loader/dns-forward.js';
import { attachDnsRedirect } from '../../src/loader/dns-redirect.js';
import { loadProgram, native, VerifierError } from '../../src/loader/index.js';
import { OptionError, PROGRAMS, programNamed, type ProgramEntry } from '../../src/programs/index.js';
import { describeWithBpf } from '../loader/support.js';
import { EDGE_VALUES, edgeOptions, INVALID_VALUES, randomOptions } from './support/options.js';
import { Prng } from './support/prng.js';
import { scaled, scaledTimeout } from './support/scale.js';

const CONFIGURATIONS_PER_PROGRAM = scaled(1_000, 5_000);
/** An interface that exists in no namespace: were validation to come after the lookup, nothing could be attached anyway. */
const NO_SUCH_INTERFACE = 'bpfgen-nosuch0';

const programs = Object.values(PROGRAMS);

describeWithBpf('configuration sweep', () => {
  it.each(programs)(
    `$name: ${CONFIGURATIONS_PER_PROGRAM} seeded configurations, edges first, all pass the verifier`,
    (entry) => {
      const rng = new Prng(0xc0f1_9000 + programs.indexOf(entry));
      const configurations = [...edgeOptions(entry.options)];
      while (configurations.length < CONFIGURATIONS_PER_PROGRAM) configurations.push(randomOptions(rng, entry.options));
      const rejected: string[] = [];
      const seen = new Map<string, Set<string | number>>(entry.options.map((spec) => [spec.name, new Set()]));
      let coincidences = 0;
      for (const options of configurations) {
        for (const [name, value] of Object.entries(options)) seen.get(name)!.add(value);
        if (new Set(Object.values(options)).size < entry.options.length) coincidences++;
        try {
          loadProgram(entry.build(options)).close();
        } catch (error) {
          if (!(error instanceof VerifierError)) throw error;
          rejected.push(`${JSON.stringify(options)}: ${error.message.split('\n')[0]}`);
        }
      }
      expect(rejected.slice(0, 5), `${rejected.length} of ${configurations.length} configurations rejected`).toEqual([]);
      // Every option took each edge of its range, and options of one kind coincided in some configurations.
      for (const spec of entry.options) {
        if (spec.kind === 'int') continue;
        for (const edge of EDGE_VALUES[spec.kind]) expect(seen.get(spec.name)!.has(edge), `${spec.flag} ${edge}`).toBe(true);
      }
      if (entry.options.length > 1) expect(coincidences).toBeGreaterThan(configurations.length / 20);
    },
    scaledTimeout(60_000, 600_000),
  );
});

/** Every invalid value of each option of `entry`, and an unknown option. */
function invalidInputs(entry: ProgramEntry): { label: string; flag: string; options: Record<string, unknown> }[] {
  const inputs = entry.options.flatMap((spec) =>
    INVALID_VALUES[spec.kind].map((value) => ({ label: `${spec.flag} ${typeof value === 'string' ? `'${value}'` : String(value)}`, flag: spec.flag as string, options: { [spec.name]: value } })),
  );
  return [...inputs, { label: 'an unknown option', flag: 'noSuchOption', options: { noSuchOption: 1 } }];
}

/** Invalid values of an attach option: those of its kind, or for the attach-only kinds a few of their own. */
function invalidAttachValues(spec: AttachOptionSpec): readonly unknown[] {
  switch (spec.kind) {
    case 'switch':
      return ['yes', 1];
    case 'choice':
      return ['no-such-choice', '', 1];
    case 'interface':
      return ['a/b', '', 'x'.repeat(16), 'a b', 7];
    default:
      return INVALID_VALUES[spec.kind];
  }
}

describeWithBpf('invalid configurations never reach the kernel', () => {
  let bpfCalls: MockInstance;
  beforeEach(() => {
    bpfCalls = vi.spyOn(native(), 'bpf');
  });
  afterEach(() => {
    bpfCalls.mockRestore();
  });

  /** `action` fails with an OptionError naming `flag`, and made no bpf() call. */
  async function expectRejectedBeforeTheKernel(action: () => unknown, flag: string): Promise<void> {
    bpfCalls.mockClear();
    let caught: unknown;
    try {
      await action();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OptionError);
    expect((caught as OptionError).option).toBe(flag);
    expect((caught as Error).message.split('\n')).toHaveLength(1);
    expect(bpfCalls).not.toHaveBeenCalled();
  }

  it('the shim spy sees the bpf() calls of a load (so that zero calls means something)', () => {
    bpfCalls.mockClear();
    loadProgram(PROGRAMS['socket-dns-filter']!.build()).close();
    expect(bpfCalls.mock.calls.length).toBeGreaterThan(0);
  });

  it.each(programs)('$name: building with each invalid value of each option', async (entry) => {
    for (const input of invalidInputs(entry)) await expectRejectedBeforeTheKernel(() => entry.build(input.options), input.flag);
  });

  it.each(Object.values(ATTACHABLE))('attach registry, $name: each invalid value of each program and attach option, and an unknown option', async (attachable) => {
    const specs: readonly AttachOptionSpec[] = [...(programNamed(attachable.name)?.options ?? []), ...attachable.options];
    // Everything valid (interfaces must exist, so lo), then one value replaced.
    const valid = Object.fromEntries(specs.map((spec) => [spec.name, spec.kind === 'interface' ? 'lo' : spec.default]));
    for (const spec of specs) {
      for (const value of invalidAttachValues(spec)) await expectRejectedBeforeTheKernel(() => attachable.attach({ ...valid, [spec.name]: value }), spec.flag);
    }
    await expectRejectedBeforeTheKernel(() => attachable.attach({ ...valid, noSuchOption: 1 }), 'noSuchOption');
  });

  it('attachDnsForward, attachDnsRedirect and captureDns validate first', async () => {
    await expectRejectedBeforeTheKernel(() => attachDnsForward({ iface: NO_SUCH_INTERFACE, dnsIp: '100.64.0.256' }), '--dns-ip');
    await expectRejectedBeforeTheKernel(() => attachDnsForward({ iface: NO_SUCH_INTERFACE, listenPort: 0 }), '--listen-port');
    await expectRejectedBeforeTheKernel(
      () => attachDnsRedirect({ lo: NO_SUCH_INTERFACE, eth: NO_SUCH_INTERFACE, resolver: '127.0.0.11', upstream: '198.51.100.53:53', containerIp: '192.0.2.2' }),
      '--resolver',
    );
    await expectRejectedBeforeTheKernel(
      () => attachDnsRedirect({ lo: NO_SUCH_INTERFACE, eth: NO_SUCH_INTERFACE, resolver: '127.0.0.11:53', upstream: '198.51.100.53:53', containerIp: '192.0.2.300' }),
      '--container-ip',
    );
    await expectRejectedBeforeTheKernel(() => captureDns({ port: 65536 }), '--port');
  });
});

describe('the sweep generator', () => {
  it('makes the same configurations from the same seed', () => {
    const specs = PROGRAMS['tc-dns-redirect-lo']!.options;
    const a = new Prng(7);
    const b = new Prng(7);
    expect(Array.from({ length: 20 }, () => randomOptions(a, specs))).toEqual(Array.from({ length: 20 }, () => randomOptions(b, specs)));
  });
});
