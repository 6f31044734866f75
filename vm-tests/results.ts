/**
 * What one matrix point reports: the vitest reporter (reporter.ts) writes it
 * in the guest or on the host, and the runner reads it back.
 */

/** Output lines that start with this are progress the runner shows; everything else goes only to the console log. */
export const PROGRESS_MARK = '@vmtests ';

/** The results file the reporter writes; command.sh sets it. */
export const RESULTS_FILE_ENV = 'VMTESTS_RESULTS';

export interface FileResult {
  /** Relative to the repository, e.g. test/loader/maps.test.ts. */
  readonly file: string;
  readonly passed: number;
  /** Failed tests, plus one for each error outside a test (a hook, the file's import). */
  readonly failed: number;
  readonly skipped: number;
  readonly durationMs: number;
  /** One line per failure: the test's full name and the first line of its error. */
  readonly failures: readonly string[];
}

export interface PointResults {
  readonly files: readonly FileResult[];
  /** Errors vitest saw outside every test file; any one fails the point. */
  readonly unhandledErrors: readonly string[];
}
