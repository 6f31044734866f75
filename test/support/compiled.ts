import { chmodSync, copyFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';

/**
 * A private directory laid out like the compiled package (dist/, build/,
 * node_modules/, package.json), sharing the one compilation of the test run
 * (test/global-setup.ts). Tests may write their own scripts into it.
 */
export function compiledPackage(options: { withShim?: boolean } = {}): { dir: string; dispose(): void } {
  const root = inject('compiledRoot');
  const dir = mkdtempSync(join(tmpdir(), 'bpfgen-pkg-'));
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  if (options.withShim === false) {
    // Node resolves modules through symlinks to their real path, where the
    // shim is; a package without it needs a copy of the code of its own.
    cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  } else {
    symlinkSync(join(root, 'dist'), join(dir, 'dist'));
    symlinkSync(join(root, 'build'), join(dir, 'build'));
  }
  chmodSync(dir, 0o755);
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
