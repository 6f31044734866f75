/**
 * A guest kernel ready to boot: the newest Debian package of its series,
 * unpacked, with modules.dep, an uncompressed vmlinux and an initramfs, all
 * kept in the cache and redone only when missing or out of date.
 */
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { initramfs } from './initramfs.js';
import { chooseKernelPackage, unpackedKernel, type KernelSeries } from './packages.js';
import { run, StepError } from './process.js';
import { extractVmlinux } from './vmlinux.js';

export interface GuestKernel {
  readonly label: string;
  readonly packageName: string;
  /** `uname -r` of the kernel, e.g. 6.1.0-56-amd64. */
  readonly release: string;
  /** The unpacked package; the guest's modprobe loads modules from here. */
  readonly tree: string;
  readonly vmlinux: string;
  readonly initramfs: string;
}

export function prepareGuestKernel(series: KernelSeries, say: (message: string) => void): GuestKernel {
  const packageName = chooseKernelPackage(series);
  say(`kernel package ${packageName}`);
  const { tree, downloaded } = unpackedKernel(series, packageName);
  if (downloaded) say(`downloaded and unpacked into ${tree}`);

  const releases = readdirSync(join(tree, 'lib', 'modules'));
  if (releases.length !== 1) throw new StepError(`${tree}/lib/modules should hold one kernel release, it holds: ${releases.join(', ')}`);
  const release = releases[0]!;
  // A tree unpacked with dpkg -x has no modules.dep: the package's postinst would have made it.
  if (!existsSync(join(tree, 'lib', 'modules', release, 'modules.dep'))) {
    run('depmod', ['-b', tree, release], { timeoutMs: 5 * 60_000 });
  }

  const vmlinux = join(tree, 'vmlinux');
  if (!existsSync(vmlinux)) {
    extractVmlinux(join(tree, 'boot', `vmlinuz-${release}`), `${vmlinux}.partial`);
    renameSync(`${vmlinux}.partial`, vmlinux);
  }
  return { label: series.label, packageName, release, tree, vmlinux, initramfs: initramfs(tree, release) };
}
