/**
 * The matrix report: a table of test file × kernel with the counts of
 * passed, failed and skipped tests, the failures with their first error
 * line, and the totals.
 */
import { duration } from './progress.js';
import type { PointOutcome } from './point.js';

function cell(outcome: PointOutcome, file: string): string {
  const result = outcome.results?.files.find((entry) => entry.file === file);
  if (!result) return 'no result';
  const parts = [
    result.failed > 0 && `${result.failed} FAILED`,
    result.passed > 0 && `${result.passed} passed`,
    result.skipped > 0 && `${result.skipped} skipped`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'no tests';
}

/** A markdown table, padded so that it also reads as plain text. */
export function markdownTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((text, column) => text.padEnd(widths[column]!)).join(' | ')} |`;
  return [line(rows[0]!), line(widths.map((width) => '-'.repeat(width))), ...rows.slice(1).map(line)];
}

export interface Totals {
  readonly passed: number;
  /** Failed tests, errors outside tests, test files without a result, and points that failed on their own. */
  readonly failed: number;
  readonly skipped: number;
}

export function totals(outcomes: readonly PointOutcome[], files: readonly string[]): Totals {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const outcome of outcomes) {
    for (const file of files) {
      const result = outcome.results?.files.find((entry) => entry.file === file);
      passed += result?.passed ?? 0;
      failed += result?.failed ?? 1;
      skipped += result?.skipped ?? 0;
    }
    failed += (outcome.results?.unhandledErrors.length ?? 0) + (outcome.problems.length > 0 ? 1 : 0);
  }
  return { passed, failed, skipped };
}

/** The table of test file × kernel, its last row each kernel's time, as markdown lines. */
export function resultsTable(outcomes: readonly PointOutcome[], files: readonly string[]): string[] {
  const header = ['test file', ...outcomes.map((outcome) => `${outcome.label} (${outcome.release})`)];
  const rows = files.map((file) => [file, ...outcomes.map((outcome) => cell(outcome, file))]);
  const times = ['time (CPU time)', ...outcomes.map((outcome) => `${duration(outcome.elapsedMs)} (${duration(outcome.cpuMs)})`)];
  return markdownTable([header, ...rows, times]);
}

/** The lines of the report, ending with the totals line `N passed, N failed`. */
export function report(outcomes: readonly PointOutcome[], files: readonly string[], wallMs: number): string[] {
  const lines = ['', ...resultsTable(outcomes, files), ''];

  for (const outcome of outcomes) {
    for (const result of outcome.results?.files ?? []) {
      for (const failure of result.failures) lines.push(`FAIL [${outcome.label}] ${result.file}: ${failure}`);
    }
    for (const error of outcome.results?.unhandledErrors ?? []) lines.push(`FAIL [${outcome.label}] unhandled error: ${error}`);
    if (outcome.problems.length > 0) lines.push(`FAIL [${outcome.label}] ${outcome.problems.join('; ')}`);
  }

  const { passed, failed, skipped } = totals(outcomes, files);
  const perPoint = outcomes.map((outcome) => `${outcome.label} ${duration(outcome.elapsedMs)} (CPU ${duration(outcome.cpuMs)})`).join(', ');
  lines.push(`times: ${perPoint}; whole matrix ${duration(wallMs)}`);
  if (skipped > 0) lines.push(`${skipped} skipped`);
  lines.push(`${passed} passed, ${failed} failed`);
  return lines;
}
