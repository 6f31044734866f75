/**
 * The benchmark compares bpfgen's programs with C references built by
 * clang (bench/reference/*.c). The comparison is fair only if both do the
 * same work, so every reference runs the same packets as its bpfgen program
 * under BPF_PROG_TEST_RUN, under several configurations, and must give the
 * same verdict and leave the same bytes: the kernel runs both, and the C was
 * written from the programs' documented behaviour, not from their code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProgramType } from '../src/asm/program.js';
import type { Program, TestRunResult } from '../src/loader/index.js';
import { clangUnavailableReason } from '../bench/clang.js';
import { buildPair, loadPair } from '../bench/pair.js';
import { REFERENCES, type Reference } from '../bench/references.js';
import { emptyProgram } from '../bench/runtime.js';
import { describeWithBpf } from './loader/support.js';
import { hexDump } from './support/packets.js';

const clangMissing = clangUnavailableReason();

function describeWithClang(name: string, body: () => void): void {
  if (clangMissing) {
    console.warn(`skipping "${name}": ${clangMissing}`);
    describe.skip(name, body);
  } else describeWithBpf(name, body);
}

describeWithClang('C references do the same work as the bpfgen programs', () => {
  const workdir = mkdtempSync(join(tmpdir(), `bpfgen-bench-ref-${process.pid}-`));
  const empties = new Map<ProgramType, Program>();
  afterAll(() => {
    for (const empty of empties.values()) empty.close();
    rmSync(workdir, { recursive: true, force: true });
  });

  /** The packet as a test run hands it back when the program leaves it alone (socket filters get it from the network header on). */
  const untouched = (type: ProgramType, packet: Uint8Array): Uint8Array => {
    if (!empties.has(type)) empties.set(type, emptyProgram(type));
    return empties.get(type)!.testRun(packet).data;
  };
  const changed = (reference: Reference, packet: Uint8Array, result: TestRunResult): boolean => Buffer.compare(result.data, untouched(reference.type, packet)) !== 0;
  /** Whether the program did something: changed the packet, or gave another verdict than for packets it leaves alone. */
  const actedOn = (reference: Reference, packet: Uint8Array, result: TestRunResult): boolean =>
    result.retval !== reference.passVerdict || changed(reference, packet, result);

  for (const reference of REFERENCES) {
    describe(`${reference.name} (${reference.source}: ${reference.function})`, () => {
      reference.equivalence().forEach((set, index) => {
        it(`configuration ${index + 1}: ${JSON.stringify(set.options)}, ${set.packets.length} packets`, () => {
          const pair = loadPair(buildPair(reference, set.options, workdir));
          try {
            let acted = 0;
            let rewritten = 0;
            for (const { name, packet } of set.packets) {
              const ours = pair.loadedOurs.testRun(packet);
              const theirs = pair.loadedTheirs.testRun(packet);
              expect(theirs.retval, `${name}: verdict`).toBe(ours.retval);
              expect(hexDump(theirs.data), `${name}: packet after the clang reference`).toBe(hexDump(ours.data));
              if (actedOn(reference, packet, ours)) acted++;
              if (changed(reference, packet, ours)) rewritten++;
            }
            if (set.identity) expect(rewritten, 'packets changed by an identity rewrite').toBe(0);
            else {
              // Both outcomes occur, or the comparison would prove little.
              expect(acted, 'packets the programs acted on').toBeGreaterThan(0);
              expect(acted, 'packets the programs acted on').toBeLessThan(set.packets.length);
            }
          } finally {
            pair.close();
          }
        });
      });

      it('the benchmark cases: the same result in both; acted on exactly when matching; an identity rewrite leaves the packet as it was', () => {
        const defaults = loadPair(buildPair(reference, reference.options, workdir));
        try {
          for (const run of reference.cases) {
            const pair = run.options ? loadPair(buildPair(reference, run.options, workdir)) : defaults;
            try {
              const ours = pair.loadedOurs.testRun(run.packet);
              const theirs = pair.loadedTheirs.testRun(run.packet);
              expect(theirs.retval, run.name).toBe(ours.retval);
              expect(hexDump(theirs.data), run.name).toBe(hexDump(ours.data));
              // Under the default options, a rewrite-every-run packet is one the program acts on; its own options
              // (if any) make that rewrite leave it as it was.
              const underDefaults = defaults.loadedOurs.testRun(run.packet);
              expect(actedOn(reference, run.packet, underDefaults), `${run.name}: acted on under the default options`).toBe(run.kind !== 'non-matching');
              if (run.options) expect(changed(reference, run.packet, ours), `${run.name}: changed by an identity rewrite`).toBe(false);
            } finally {
              if (pair !== defaults) pair.close();
            }
          }
        } finally {
          defaults.close();
        }
      });
    });
  }
});
