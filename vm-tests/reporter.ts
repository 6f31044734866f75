/**
 * The vitest reporter of a matrix point: a progress line when a test file
 * starts and ends, a line per failed test, and at the end the point's
 * results as JSON in the file named by $VMTESTS_RESULTS. vitest loads this
 * file from source, in the guest and on the host alike.
 */
import { writeFileSync } from 'node:fs';
import type { Reporter, SerializedError, TestCase, TestModule } from 'vitest/node';
import { PROGRESS_MARK, RESULTS_FILE_ENV, type FileResult, type PointResults } from './results.js';

function firstLine(error: SerializedError | undefined): string {
  return (error?.message ?? 'no error message').trim().split('\n')[0]!.slice(0, 300);
}

function progress(line: string): void {
  process.stdout.write(`${PROGRESS_MARK}${line}\n`);
}

function summarise(module: TestModule): FileResult {
  let passed = 0;
  let skipped = 0;
  const failures: string[] = [];
  for (const test of module.children.allTests()) {
    const result = test.result();
    if (result.state === 'passed') passed++;
    else if (result.state === 'skipped') skipped++;
    else failures.push(`${test.fullName}: ${result.state === 'failed' ? firstLine(result.errors[0]) : 'did not finish'}`);
  }
  // A failing hook or import fails no test by itself (vitest skips the tests under it), so it counts on its own.
  for (const error of module.errors()) failures.push(`(file): ${firstLine(error)}`);
  for (const suite of module.children.allSuites()) {
    for (const error of suite.errors()) failures.push(`${suite.fullName}: ${firstLine(error)}`);
  }
  const timing = module.diagnostic();
  const durationMs = timing.environmentSetupDuration + timing.prepareDuration + timing.collectDuration + timing.setupDuration + timing.duration;
  return { file: module.relativeModuleId, passed, failed: failures.length, skipped, durationMs, failures };
}

function write(results: PointResults): void {
  const path = process.env[RESULTS_FILE_ENV];
  if (path) writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}

export default class MatrixReporter implements Reporter {
  private readonly finished: FileResult[] = [];

  /** When a worker takes the file: its imports can take a minute under emulation, so this is the line to show. */
  onTestModuleQueued(module: TestModule): void {
    progress(`running ${module.relativeModuleId}`);
  }

  onTestCaseResult(test: TestCase): void {
    const result = test.result();
    if (result.state === 'failed') progress(`  FAIL ${test.fullName}: ${firstLine(result.errors[0])}`);
  }

  onTestModuleEnd(module: TestModule): void {
    const result = summarise(module);
    // Written after every file, so that a guest that crashes or runs out of time still reports the files it finished.
    this.finished.push(result);
    write({ files: this.finished, unhandledErrors: [] });
    const timing = module.diagnostic();
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    progress(
      `${result.failed > 0 ? 'FAIL' : 'done'} ${result.file}: ${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped ` +
        `in ${seconds(result.durationMs)} (imports ${seconds(timing.collectDuration)}, tests ${seconds(timing.duration)})`,
    );
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const results: PointResults = { files: modules.map(summarise), unhandledErrors: unhandledErrors.map(firstLine) };
    for (const error of results.unhandledErrors) progress(`unhandled error: ${error}`);
    write(results);
  }
}
