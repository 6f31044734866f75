/**
 * The README's kernel matrix section between its markers: the table of the
 * last complete run and the features some kernel lacks, from that run's
 * probes. Written by the runner after a run of every kernel and the whole
 * default file set, so that it always shows one real run, never a hand edit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { featureSummary, type KernelProbe } from './features.js';
import { REPO_ROOT } from './paths.js';
import type { PointOutcome } from './point.js';
import { duration } from './progress.js';
import { resultsTable, totals } from './table.js';

export const README = join(REPO_ROOT, 'README.md');
const START = '<!-- vm-matrix:start (written by npm run test:vm) -->';
const END = '<!-- vm-matrix:end -->';

export function updateReadme(outcomes: readonly PointOutcome[], files: readonly string[], probes: readonly KernelProbe[], wallMs: number, readme = README): void {
  const text = readFileSync(readme, 'utf8');
  const [start, end] = [text.indexOf(START), text.indexOf(END)];
  if (start < 0 || end < start) throw new Error(`${readme} has no kernel matrix block (${START} … ${END})`);
  const { passed, failed } = totals(outcomes, files);
  const day = new Date().toISOString().slice(0, 10);
  const block = [
    START,
    `Last complete run, ${day}, on a ${availableParallelism()}-core machine: ${passed} passed, ${failed} failed; the whole matrix took ${duration(wallMs)}.`,
    '',
    ...resultsTable(outcomes, files),
    '',
    `What the probes found missing on some kernel (every other feature bpfgen probes is on all ${probes.length}):`,
    '',
    ...featureSummary(probes),
    END,
  ].join('\n');
  writeFileSync(readme, text.slice(0, start) + block + text.slice(end + END.length));
}
