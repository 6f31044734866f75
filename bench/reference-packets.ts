/** What the packet sets of the references share: DNS payloads and a reproducible random sequence. */

/**
 * A DNS message for example.com (type A, class IN): the header (id 0x1234,
 * recursion desired, `qdcount` questions announced, none of the other
 * sections) and one question.
 */
export function dnsMessage(qdcount = 1): Uint8Array {
  return Uint8Array.from([
    0x12, 0x34, 0x01, 0x00, qdcount >> 8, qdcount & 0xff, 0, 0, 0, 0, 0, 0,
    7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0x00, 0x01, 0x00, 0x01,
  ]);
}

/** A deterministic pseudo-random sequence in [0, 1) (xorshift32), so that a failing packet can be reproduced from its seed. */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

/** A random integer in [0, n). */
export const below = (next: () => number, n: number): number => Math.floor(next() * n);

/** A copy of `packet` with one random bit flipped in one of the bytes at `offsets`. */
export function flipOneBit(packet: Uint8Array, offsets: readonly number[], next: () => number): Uint8Array {
  const copy = Uint8Array.from(packet);
  const at = offsets[below(next, offsets.length)]!;
  if (at < copy.length) copy[at] ^= 1 << below(next, 8);
  return copy;
}

/** Host-order value of a dotted-quad address, as the C references' -D defines take it (0x647f88f1). */
export function hostOrder(address: string): string {
  const value = address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
  return `0x${value.toString(16).padStart(8, '0')}`;
}
