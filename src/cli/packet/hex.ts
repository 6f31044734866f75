import { UsageError } from '../usage.js';

/**
 * Bytes from hex text as people paste it: `0x` prefixes, whitespace and the
 * `:`/`-` separators of MAC-style dumps are ignored; anything else that is
 * not a hex digit is an error naming `flag` and the position.
 */
export function parseHexPacket(flag: string, text: string): Uint8Array {
  const digits: string[] = [];
  const stripped = text.replace(/(?<![0-9a-f])0x/gi, (prefix) => ' '.repeat(prefix.length));
  for (let i = 0; i < stripped.length; i++) {
    const c = stripped[i]!;
    if (/[0-9a-fA-F]/.test(c)) digits.push(c);
    else if (!/[\s:-]/.test(c)) throw new UsageError(`${flag}: '${c}' at character ${i + 1} is not a hex digit`);
  }
  if (digits.length === 0) throw new UsageError(`${flag}: the packet is empty (give its bytes as hex digits, two per byte)`);
  if (digits.length % 2 === 1) throw new UsageError(`${flag}: odd number of hex digits (${digits.length}); every byte needs two`);
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits[2 * i]! + digits[2 * i + 1]!, 16);
  return bytes;
}

/** Bytes as lower-case hex, no separators: the form `--packet` takes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
