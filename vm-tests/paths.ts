/**
 * Where the matrix runner finds the repository and keeps its cache. The
 * runner runs compiled, from vm-tests/.cache/js/vm-tests/.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');
export const VM_TESTS = join(REPO_ROOT, 'vm-tests');
/** The init script and module loader wrapper that go into every initramfs. */
export const GUEST_FILES = join(VM_TESTS, 'guest');
/** Ignored by git: unpacked kernels, their initramfs images, and one results directory per matrix point. */
export const CACHE = join(VM_TESTS, '.cache');
export const KERNELS = join(CACHE, 'kernels');
export const RUNS = join(CACHE, 'runs');
/** bpfgen compiled once per matrix run (test/global-setup.ts compileBpfgen) for every point's tests and probe. */
export const COMPILED = join(CACHE, 'compiled');
