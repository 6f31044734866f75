/**
 * Where the matrix runner finds the repository and keeps its cache. The
 * runner runs compiled, from vm-tests/.cache/js/vm-tests/; the tests import
 * it from source.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The checkout: the nearest directory above this file with package.json and vm-tests/ (the same from source, as the tests import it, and compiled). */
function repoRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'vm-tests'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no checkout (package.json beside vm-tests/) above ${import.meta.dirname}`);
  }
}

export const REPO_ROOT = repoRoot();
export const VM_TESTS = join(REPO_ROOT, 'vm-tests');
/** The init script and module loader wrapper that go into every initramfs. */
export const GUEST_FILES = join(VM_TESTS, 'guest');
/** Ignored by git: unpacked kernels, their initramfs images, and one results directory per matrix point. */
export const CACHE = join(VM_TESTS, '.cache');
export const KERNELS = join(CACHE, 'kernels');
export const RUNS = join(CACHE, 'runs');
/** bpfgen compiled once per matrix run (test/global-setup.ts compileBpfgen) for every point's tests and probe. */
export const COMPILED = join(CACHE, 'compiled');
