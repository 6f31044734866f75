/**
 * Compiling the C references in bench/reference/ with Debian's clang, as
 * the benchmark (and test/bench-references.test.ts) do: `clang-19 -O2
 * -target bpf -c`, with a program's options passed as -D defines, and -g
 * for references that declare maps (BTF-defined maps need the BTF that -g
 * emits; the code is the same with or without it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLANG = 'clang-19';
export const OBJDUMP = 'llvm-objdump-19';
/** The Debian packages the benchmark needs beyond the tests': clang and llvm-objdump, and GNU time for peak RSS. */
const PACKAGES = ['clang-19', 'llvm-19', 'time'];

/** bench/reference/, found from this file whether it runs as TypeScript or compiled into bench/.work/bench/. */
export const REFERENCE_DIR = fileURLToPath(new URL(import.meta.url.includes('/.work/') ? '../../reference/' : './reference/', import.meta.url));

const COMPILE_TIMEOUT_MS = 60_000;

/** Why the references cannot be compiled here, or undefined when clang-19 and the UAPI headers are present. */
export function clangUnavailableReason(): string | undefined {
  const probe = spawnSync(CLANG, ['--version'], { encoding: 'utf8', timeout: COMPILE_TIMEOUT_MS });
  if (probe.error || probe.status !== 0) return `${CLANG} is not installed (Debian package clang-19)`;
  if (!existsSync('/usr/include/linux/bpf.h')) return '/usr/include/linux/bpf.h is missing (Debian package linux-libc-dev)';
  if (asmIncludeDir() === undefined) return 'no /usr/include/<multiarch>/asm/types.h (Debian package linux-libc-dev)';
  return undefined;
}

/** The benchmark's own dependencies: install them with apt-get when they are missing (root only). */
export function ensureBenchTools(log: (line: string) => void): void {
  const missing = PACKAGES.filter((p) => spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout?.includes('install ok installed') !== true);
  if (missing.length === 0) return;
  log(`installing ${missing.join(' ')} with apt-get (benchmark-only dependencies)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env, timeout: 600_000 });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed; install ${missing.join(' ')} by hand`);
  }
}

/**
 * Where <asm/types.h> lives: linux/types.h includes it, and with -target
 * bpf clang does not search the host's multiarch directory by itself.
 */
function asmIncludeDir(): string | undefined {
  try {
    return readdirSync('/usr/include')
      .map((entry) => join('/usr/include', entry))
      .find((dir) => /-linux-/.test(dir) && existsSync(join(dir, 'asm', 'types.h')));
  } catch {
    return undefined;
  }
}

export type Defines = Readonly<Record<string, string | number>>;

export interface CompileOptions {
  readonly defines?: Defines;
  /** -g: emit BTF, which BTF-defined maps (section .maps) need. */
  readonly btf?: boolean;
}

/** The clang command line that compiles `source` (a file in bench/reference/) into `object`. */
export function clangArgs(source: string, object: string, options: CompileOptions = {}): string[] {
  const include = asmIncludeDir();
  return [
    '-O2',
    ...(options.btf ? ['-g'] : []),
    '-target',
    'bpf',
    ...(include ? ['-I', include] : []),
    ...Object.entries(options.defines ?? {}).map(([name, value]) => `-D${name}=${value}`),
    '-c',
    join(REFERENCE_DIR, source),
    '-o',
    object,
  ];
}

/** Compile; returns the wall-clock nanoseconds of the clang process. */
export function compileReference(source: string, object: string, options: CompileOptions = {}): number {
  const args = clangArgs(source, object, options);
  const start = process.hrtime.bigint();
  const result = spawnSync(CLANG, args, { encoding: 'utf8', timeout: COMPILE_TIMEOUT_MS });
  const ns = Number(process.hrtime.bigint() - start);
  if (result.error || result.status !== 0) {
    throw new Error(`${CLANG} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr.trim()}`);
  }
  return ns;
}

/** First line of `tool --version` that names a version, e.g. "Debian clang version 19.1.7 (3~deb12u1)". */
export function toolVersion(tool: string): string {
  const result = spawnSync(tool, ['--version'], { encoding: 'utf8', timeout: COMPILE_TIMEOUT_MS });
  return result.stdout?.split('\n').find((line) => /version/i.test(line))?.trim() ?? 'unknown';
}
