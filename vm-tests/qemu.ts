/**
 * The QEMU command line of a guest, in the way virtme boots kernels: the
 * host's root shared read-only over virtio-9p, a writable 9p share for the
 * results, vmlinux booted directly through PVH, the serial console on stdio.
 */
import type { GuestKernel } from './kernels.js';
import { REPO_ROOT } from './paths.js';

export interface GuestMachine {
  readonly cpus: number;
  readonly memoryMiB: number;
}

export function qemuArgs(kernel: GuestKernel, resultsDir: string, machine: GuestMachine): string[] {
  // init (vm-tests/guest/init) reads its parameters from the command line.
  // panic=-1 reboots at once on a panic, and -no-reboot turns that into QEMU's exit.
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    `vmtests.results=${resultsDir}`,
    `vmtests.repo=${REPO_ROOT}`,
    `vmtests.package=${kernel.tree}`,
  ].join(' ');
  return [
    // KVM is not usable on these machines (a nested software module whose guests die on emulation failures): TCG it is.
    '-accel', 'tcg,thread=multi',
    '-cpu', 'max',
    '-smp', String(machine.cpus),
    '-m', `${machine.memoryMiB}M`,
    '-nodefaults', '-no-user-config', '-no-reboot',
    '-display', 'none',
    '-serial', 'stdio',
    '-kernel', kernel.vmlinux,
    '-initrd', kernel.initramfs,
    '-append', append,
    // multidevs=remap keeps inode numbers unique across the host's mounts; without it /proc/self/ns vanishes and `ip netns` breaks.
    '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev', `local,id=results,path=${resultsDir},security_model=none,multidevs=remap`,
    '-device', 'virtio-9p-pci,fsdev=results,mount_tag=results',
  ];
}
