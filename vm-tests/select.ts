/**
 * Which test files the matrix runs: those that need the kernel. The rule,
 * in this one place: a test file needs the kernel when it declares its
 * tests with describeWithBpf (test/loader/support.ts), the suite's marker
 * for tests that need root and bpf(). The pure tests do not depend on the
 * kernel, and `npm test` runs them anyway.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './paths.js';
import { StepError } from './process.js';

const KERNEL_TEST_MARKER = /\bdescribeWithBpf\(/;

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The kernel test files, relative to the repository, sorted; `filters` (substrings of the path) narrow them. */
export function kernelTestFiles(filters: readonly string[]): string[] {
  const all = testFiles(join(REPO_ROOT, 'test'))
    .filter((path) => KERNEL_TEST_MARKER.test(readFileSync(path, 'utf8')))
    .map((path) => relative(REPO_ROOT, path))
    .sort();
  if (filters.length === 0) return all;
  for (const filter of filters) {
    if (!all.some((file) => file.includes(filter))) {
      throw new StepError(`no kernel test file matches '${filter}'; they are:\n  ${all.join('\n  ')}`);
    }
  }
  return all.filter((file) => filters.some((filter) => file.includes(filter)));
}
