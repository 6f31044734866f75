/**
 * The initramfs of a guest kernel: static busybox, the init script and
 * module loader wrapper of vm-tests/guest/, and the kernel's modules that
 * mounting the 9p shares and the overlays needs, with their dependencies.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GUEST_FILES } from './paths.js';
import { run, runText, StepError } from './process.js';

/** What init loads before it can mount anything; modprobe adds their dependencies (virtio_pci is built into 6.12). */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];
const GUEST_SCRIPTS = ['init', 'modprobe'];
const BUSYBOX = '/bin/busybox';

/** The module files to load, in order, as `modprobe --show-depends` resolves them in the unpacked tree. */
function bootModules(tree: string, release: string): string[] {
  const plan = runText('modprobe', ['-d', tree, '-S', release, '-a', '--show-depends', ...BOOT_MODULES], { timeoutMs: 60_000 });
  const files: string[] = [];
  for (const line of plan.split('\n')) {
    const path = /^insmod (\S+)/.exec(line)?.[1];
    if (path && !files.includes(path)) files.push(path);
  }
  return files;
}

/** Every path under `dir`, relative, parents first: the list cpio archives. */
function listTree(dir: string, prefix = '.'): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = `${prefix}/${name}`;
    return statSync(join(dir, name)).isDirectory() ? [path, ...listTree(join(dir, name), path)] : [path];
  });
}

function stage(staging: string, modules: readonly string[]): void {
  for (const dir of ['bin', 'sbin', 'dev', 'proc', 'sys', 'newroot', 'overlays', 'modules']) mkdirSync(join(staging, dir), { recursive: true });
  copyFileSync(BUSYBOX, join(staging, 'bin', 'busybox'));
  copyFileSync(join(GUEST_FILES, 'init'), join(staging, 'init'));
  copyFileSync(join(GUEST_FILES, 'modprobe'), join(staging, 'sbin', 'modprobe'));
  for (const file of ['bin/busybox', 'init', 'sbin/modprobe']) chmodSync(join(staging, file), 0o755);

  const order: string[] = [];
  for (const module of modules) {
    // busybox insmod cannot read compressed modules (6.12 ships .ko.xz).
    const name = basename(module).replace(/\.xz$/, '');
    const contents = module.endsWith('.xz') ? run('xz', ['-dc', module], { timeoutMs: 60_000 }) : readFileSync(module);
    writeFileSync(join(staging, 'modules', name), contents);
    order.push(name);
  }
  writeFileSync(join(staging, 'modules', 'order'), `${order.join('\n')}\n`);
}

/**
 * The path of the kernel's initramfs (an uncompressed newc cpio beside the
 * unpacked tree), built when the guest scripts, busybox or the module list
 * changed since the last build.
 */
export function initramfs(tree: string, release: string): string {
  const modules = bootModules(tree, release);
  if (modules.length === 0) throw new StepError(`modprobe found none of ${BOOT_MODULES.join(', ')} in ${tree}`);
  const inputs = createHash('sha256');
  for (const script of GUEST_SCRIPTS) inputs.update(readFileSync(join(GUEST_FILES, script)));
  inputs.update(`${statSync(BUSYBOX).size}\n${modules.join('\n')}`);
  const out = join(tree, `initramfs-${inputs.digest('hex').slice(0, 12)}.cpio`);
  if (existsSync(out)) return out;

  const staging = `${out}.staging`;
  rmSync(staging, { recursive: true, force: true });
  stage(staging, modules);
  const archive = run(BUSYBOX, ['cpio', '-o', '-H', 'newc', '-R', '0:0'], { cwd: staging, input: `${listTree(staging).join('\n')}\n`, timeoutMs: 60_000 });
  rmSync(staging, { recursive: true, force: true });
  for (const old of readdirSync(dirname(out))) if (/^initramfs-.*\.cpio$/.test(old)) rmSync(join(dirname(out), old));
  writeFileSync(`${out}.partial`, archive);
  renameSync(`${out}.partial`, out);
  return out;
}
