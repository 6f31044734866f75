import { DslError } from './errors.js';
import { callerLocation } from './dsl/callsite.js';

/**
 * Network byte order at generation time.
 *
 * bpfgen encodes little-endian programs (instruction.ts), so they run on
 * little-endian CPUs. When such a CPU loads 2 or 4 bytes of a packet, the
 * first (most significant, network-order) byte lands in the low byte of the
 * register. A constant compared with, or stored as, such a load must
 * therefore be the byte-swapped value:
 *
 *     *(u16 *)(udp + 2) == be16(53)      // be16(53) = 0x3500
 *     *(u32 *)(ip + 16) == ipv4('100.127.136.241')   // = 0xf1887f64
 *
 * `beN(x)` answers "what does a little-endian load of x written in network
 * order read as". Swapping twice is the identity, so `beN` also converts such
 * a loaded value back to the number it stands for.
 */

export function be16(value: number): number {
  checkUnsigned(value, 16, be16);
  return ((value & 0xff) << 8) | (value >>> 8);
}

/** Unsigned result; use it in 32-bit operations (`w` registers), where the immediate is not sign-extended. */
export function be32(value: number): number {
  checkUnsigned(value, 32, be32);
  return (((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24)) >>> 0;
}

/** The immediate that equals a 4-byte load of this address from a packet: `be32(parseIpv4(text))`. */
export function ipv4(text: string): number {
  const address = parseIpv4(text);
  if (address === undefined) throw new DslError(callerLocation(ipv4), `'${text}' is not a dotted-quad IPv4 address`);
  return be32(address);
}

/**
 * The numeric value of a dotted-quad IPv4 address, first octet most
 * significant (`'100.127.136.241'` is 0x647f88f1), or undefined if the text is
 * not exactly four decimal octets 0-255. Leading zeros are refused because
 * inet_aton reads them as octal.
 */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** `entry` is the public function, so the error names its caller's line. */
function checkUnsigned(value: number, bits: 16 | 32, entry: typeof be16): void {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new DslError(callerLocation(entry), `be${bits}(${value}): expected an integer 0..${2 ** bits - 1}`);
  }
}
