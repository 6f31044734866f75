/**
 * The Internet checksum (RFC 1071): the one's complement of the one's
 * complement sum of 16-bit big-endian words. A header or datagram whose
 * checksum field is right sums, field included, to 0xffff.
 */

/** One's complement sum of `bytes` (an odd last byte is padded with zero), added to `initial`, folded to 16 bits. */
export function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  // Folding twice suffices while the sum stays below 2^32, which holds for any packet under 128 KiB.
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The value a checksum field must hold for `bytes` (with that field zeroed) plus `initial` to verify. */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  return ~onesComplementSum(bytes, initial) & 0xffff;
}

/** True when `bytes`, checksum field included, sum (with `initial`) to all ones. */
export function checksumVerifies(bytes: Uint8Array, initial = 0): boolean {
  return onesComplementSum(bytes, initial) === 0xffff;
}

/** Sum of the IPv4 pseudo-header that UDP and TCP checksums cover (RFC 768, RFC 9293). */
export function ipv4PseudoHeaderSum(source: Uint8Array, destination: Uint8Array, protocol: number, length: number): number {
  return onesComplementSum(source) + onesComplementSum(destination) + protocol + length;
}

/** Sum of the IPv6 pseudo-header (RFC 8200 section 8.1). */
export function ipv6PseudoHeaderSum(source: Uint8Array, destination: Uint8Array, nextHeader: number, length: number): number {
  return onesComplementSum(source) + onesComplementSum(destination) + (length >>> 16) + (length & 0xffff) + nextHeader;
}
