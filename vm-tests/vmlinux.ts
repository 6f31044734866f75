/**
 * The uncompressed kernel (vmlinux) taken out of a bzImage (vmlinuz). QEMU
 * boots the ELF directly through its PVH entry point, which saves the
 * guest's own decompression, seconds under emulation.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { run, StepError } from './process.js';

/** Decompressors by the magic bytes that start the payload (the kernel's CONFIG_KERNEL_* choices Debian uses). */
const DECOMPRESSORS = [
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], command: 'xz', args: ['-dc', '--single-stream'] },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], command: 'zstd', args: ['-dcq'] },
  { magic: [0x1f, 0x8b], command: 'gzip', args: ['-dc'] },
] as const;

/**
 * The compressed payload of a bzImage, located by its x86 boot protocol
 * header (Documentation/arch/x86/boot.rst): it starts payload_offset bytes
 * into the protected-mode code, which follows the setup sectors. The build
 * appends the uncompressed size as 4 little-endian bytes (size_append).
 */
function payload(image: Buffer, path: string): { compressed: Buffer; size: number } {
  if (image.toString('latin1', 0x202, 0x206) !== 'HdrS' || image.readUInt16LE(0x206) < 0x208) {
    throw new StepError(`${path}: not a bzImage with boot protocol 2.08 or later (no payload_offset field)`);
  }
  const setupSectors = image[0x1f1] || 4;
  const start = (setupSectors + 1) * 512 + image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  if (start + length > image.length || length < 4) throw new StepError(`${path}: payload (${length} bytes at ${start}) lies outside the file`);
  const withSize = image.subarray(start, start + length);
  return { compressed: withSize.subarray(0, length - 4), size: withSize.readUInt32LE(length - 4) };
}

/** Write the vmlinux inside the bzImage at `vmlinuzPath` to `outPath`, checked against the size the build recorded. */
export function extractVmlinux(vmlinuzPath: string, outPath: string): void {
  const { compressed, size } = payload(readFileSync(vmlinuzPath), vmlinuzPath);
  const decompressor = DECOMPRESSORS.find(({ magic }) => magic.every((byte, i) => compressed[i] === byte));
  if (!decompressor) throw new StepError(`${vmlinuzPath}: payload compressed in an unknown format (starts ${compressed.subarray(0, 6).toString('hex')})`);
  const vmlinux = run(decompressor.command, decompressor.args, { input: compressed, timeoutMs: 120_000 });
  if (vmlinux.length !== size || vmlinux.readUInt32BE(0) !== 0x7f454c46) {
    throw new StepError(`${vmlinuzPath}: ${decompressor.command} gave ${vmlinux.length} bytes, expected an ELF of ${size}`);
  }
  writeFileSync(outPath, vmlinux);
}
