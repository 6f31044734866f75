/**
 * Debian packages: the host tools the matrix needs (installed by .ci/deps,
 * the one list of the tests' Debian packages), and the guest kernels, the
 * newest package of each series, downloaded and unpacked into the cache
 * without being installed.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, KERNELS, REPO_ROOT } from './paths.js';
import { run, runText, StepError } from './process.js';

export interface KernelSeries {
  /** The name of the matrix point, as `--kernel` takes it. */
  readonly label: string;
  /** Package names of the series; group 1 is the number that orders its releases. */
  readonly packagePattern: RegExp;
}

export const KERNEL_SERIES: readonly KernelSeries[] = [
  { label: '6.1', packagePattern: /^linux-image-6\.1\.0-(\d+)-amd64-unsigned$/ },
  { label: '6.12', packagePattern: /^linux-image-6\.12\.(\d+)\+deb12-amd64-unsigned$/ },
];

const APT_TIMEOUT_MS = 15 * 60_000;
/** Marks an unpacked tree as complete, so an interrupted unpack is redone. */
const UNPACKED_MARK = '.unpacked';

/** Install the Debian packages of .ci/deps that are missing (qemu, busybox-static, kmod, decompressors, and the tests' tools). */
export function installHostTools(): void {
  run('bash', [join(REPO_ROOT, '.ci', 'deps')], { timeoutMs: APT_TIMEOUT_MS });
}

function aptUpdate(): void {
  run('apt-get', ['update', '-qq'], { timeoutMs: APT_TIMEOUT_MS });
}

function newestPackage(series: KernelSeries): string | undefined {
  const names = runText('apt-cache', ['pkgnames', 'linux-image-6.'], { timeoutMs: 60_000 }).split('\n');
  let newest: { name: string; number: number } | undefined;
  for (const name of names) {
    const match = series.packagePattern.exec(name);
    if (match && (!newest || Number(match[1]) > newest.number)) newest = { name, number: Number(match[1]) };
  }
  return newest?.name;
}

/** The package name of the newest kernel of the series apt knows, updating the package lists once if it knows none. */
export function chooseKernelPackage(series: KernelSeries): string {
  let name = newestPackage(series);
  if (!name) {
    aptUpdate();
    name = newestPackage(series);
  }
  if (!name) throw new StepError(`apt-cache knows no package matching ${series.packagePattern} for kernel ${series.label}`);
  return name;
}

function download(name: string, into: string): string {
  // apt's sandbox user cannot write into the root-owned cache; the files are only unpacked, never installed.
  const fetch = () => run('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', name], { cwd: into, timeoutMs: APT_TIMEOUT_MS });
  try {
    fetch();
  } catch {
    aptUpdate(); // the lists may name a version the mirror has dropped
    fetch();
  }
  const deb = readdirSync(into).find((file) => file.startsWith(`${name}_`) && file.endsWith('.deb'));
  if (!deb) throw new StepError(`apt-get download ${name} left no .deb in ${into}`);
  return join(into, deb);
}

/** The unpacked tree of the package (downloaded and unpacked on first use); older trees of the series are removed. */
export function unpackedKernel(series: KernelSeries, name: string): { tree: string; downloaded: boolean } {
  const tree = join(KERNELS, name);
  for (const other of existsSync(KERNELS) ? readdirSync(KERNELS) : []) {
    if (other !== name && series.packagePattern.test(other.replace(/\.partial$/, ''))) rmSync(join(KERNELS, other), { recursive: true, force: true });
  }
  if (existsSync(join(tree, UNPACKED_MARK))) return { tree, downloaded: false };

  const downloads = join(CACHE, 'downloads');
  rmSync(downloads, { recursive: true, force: true });
  mkdirSync(downloads, { recursive: true });
  mkdirSync(KERNELS, { recursive: true });
  const deb = download(name, downloads);
  const partial = `${tree}.partial`;
  rmSync(partial, { recursive: true, force: true });
  rmSync(tree, { recursive: true, force: true });
  run('dpkg', ['-x', deb, partial], { timeoutMs: 5 * 60_000 });
  writeFileSync(join(partial, UNPACKED_MARK), `${deb}\n`);
  renameSync(partial, tree);
  rmSync(downloads, { recursive: true, force: true });
  return { tree, downloaded: true };
}
