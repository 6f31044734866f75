/**
 * The benchmark compares bpfgen's programs with C references built by
 * clang (bench/reference/*.c). The comparison is fair only if both do the
 * same work, so every reference runs the same packets as its bpfgen program
 * under BPF_PROG_TEST_RUN, under several configurations, and must give the
 * same verdict and leave the same bytes: the kernel runs both, and the C was
 * written from the program's documented behaviour, not from its code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clangUnavailableReason } from '../bench/clang.js';
import { buildPair, loadPair } from '../bench/pair.js';
import { REFERENCES } from '../bench/references.js';
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
  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  for (const reference of REFERENCES) {
    describe(`${reference.name} (${reference.source})`, () => {
      reference.equivalence().forEach((set, index) => {
        it(`configuration ${index + 1}: ${JSON.stringify(set.options)}, ${set.packets.length} packets`, () => {
          const pair = loadPair(buildPair(reference, set.options, workdir));
          try {
            let rewritten = 0;
            for (const { name, packet } of set.packets) {
              const ours = pair.loadedOurs.testRun(packet);
              const theirs = pair.loadedTheirs.testRun(packet);
              expect(theirs.retval, `${name}: verdict`).toBe(ours.retval);
              expect(hexDump(theirs.data), `${name}: packet after the clang reference`).toBe(hexDump(ours.data));
              if (Buffer.compare(ours.data, packet) !== 0) rewritten++;
            }
            if (set.identity) expect(rewritten, 'packets changed by an identity rewrite').toBe(0);
            else {
              // The packets exercise both outcomes, or the comparison would prove little.
              expect(rewritten).toBeGreaterThan(0);
              expect(rewritten).toBeLessThan(set.packets.length);
            }
          } finally {
            pair.close();
          }
        });
      });

      it('the benchmark cases: same results in both; matching packets are rewritten, others not; the rewrite-every-run packet is rewritten onto itself', () => {
        const defaults = loadPair(buildPair(reference, reference.options, workdir));
        try {
          for (const run of reference.cases) {
            const pair = run.options ? loadPair(buildPair(reference, run.options, workdir)) : defaults;
            try {
              const ours = pair.loadedOurs.testRun(run.packet);
              const theirs = pair.loadedTheirs.testRun(run.packet);
              expect(theirs.retval, run.name).toBe(ours.retval);
              expect(hexDump(theirs.data), run.name).toBe(hexDump(ours.data));
              // Under the default options the packet is rewritten exactly when it matches; a rewrite-every-run
              // packet matches too, and its own options make that rewrite leave it as it was.
              const changedByDefaults = Buffer.compare(defaults.loadedOurs.testRun(run.packet).data, run.packet) !== 0;
              expect(changedByDefaults, `${run.name}: rewritten under the default options`).toBe(run.kind !== 'non-matching');
              if (run.kind === 'rewrite every run') expect(hexDump(ours.data), `${run.name}: an identity rewrite`).toBe(hexDump(run.packet));
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
