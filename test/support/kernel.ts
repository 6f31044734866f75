/**
 * Facts about the running kernel from outside bpfgen: its release, its
 * build configuration and its BTF. Kernel tests run on every kernel of the
 * matrix (vm-tests/), and derive what they expect from these rather than
 * from our own probes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

/** Whether the running kernel is `major.minor` or newer (Debian's 6.12.117+deb12-amd64 counts as 6.12). */
export function kernelAtLeast(major: number, minor: number): boolean {
  const match = /^(\d+)\.(\d+)/.exec(release());
  if (!match) throw new Error(`cannot read a version from the kernel release '${release()}'`);
  const [have, haveMinor] = [Number(match[1]), Number(match[2])];
  return have > major || (have === major && haveMinor >= minor);
}

let config: string | undefined;

/** The build configuration: /proc/config.gz where the kernel has one, else /boot/config-RELEASE as distributions install it. */
function kernelConfigText(): string {
  if (config !== undefined) return config;
  const boot = `/boot/config-${release()}`;
  if (existsSync('/proc/config.gz')) config = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  else if (existsSync(boot)) config = readFileSync(boot, 'latin1');
  else throw new Error(`the kernel's build configuration is neither in /proc/config.gz nor in ${boot}`);
  return config;
}

/** Whether the kernel was built with `option` (=y or =m). */
export function kernelConfig(option: string): boolean {
  return new RegExp(`^${option}=[ym]$`, 'm').test(kernelConfigText());
}

let btf: string | undefined;

/**
 * The enumerators of an enum in the kernel's BTF (bpftool's raw dump of
 * /sys/kernel/btf/vmlinux) that start with `prefix`, lower-cased without it,
 * with their values.
 */
export function kernelEnum(enumName: string, prefix: string): Map<string, number> {
  btf ??= execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'raw'], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 120_000 });
  const start = btf.indexOf(`ENUM '${enumName}'`);
  if (start < 0) throw new Error(`the kernel's BTF has no enum ${enumName}`);
  const block = btf.slice(start, btf.indexOf('\n[', start));
  const values = new Map<string, number>();
  for (const [, name, value] of block.matchAll(/'(\w+)' val=(\d+)/g)) {
    if (name!.startsWith(prefix) && !name!.endsWith('_DEPRECATED')) values.set(name!.slice(prefix.length).toLowerCase(), Number(value));
  }
  return values;
}

/** The parts of ISA v4, as the probes name them. */
export type IsaV4Part = 'sdiv_smod' | 'movsx' | 'memsx' | 'bswap' | 'gotol';

/**
 * Which of what ISA v4 (RFC 9669; Linux 6.6) added encoded instructions use,
 * read from the bytes as the RFC lays them out: signed division and modulo
 * (offset 1), sign-extending moves (MOV with an offset), sign-extending
 * loads (mode MEMSX), unconditional byte swaps (END in the ALU64 class) and
 * gotol (JA in the JMP32 class, its offset in imm; one with imm 0 is what
 * older kernels run as `ja +offset`, and is left out).
 */
export function isaV4Parts(bytes: Uint8Array): Set<IsaV4Part> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts = new Set<IsaV4Part>();
  for (let at = 0; at < bytes.byteLength; at += 8) {
    const code = bytes[at]!;
    const offset = view.getInt16(at + 2, true);
    const [cls, op] = [code & 0x07, code & 0xf0];
    const alu = cls === 0x04 || cls === 0x07;
    if (alu && (op === 0x30 || op === 0x90) && offset === 1) parts.add('sdiv_smod');
    if (alu && op === 0xb0 && offset !== 0) parts.add('movsx');
    if (cls === 0x07 && op === 0xd0) parts.add('bswap');
    if (cls === 0x01 && (code & 0xe0) === 0x80) parts.add('memsx');
    if (cls === 0x06 && op === 0x00 && view.getInt32(at + 4, true) !== 0) parts.add('gotol');
  }
  return parts;
}
