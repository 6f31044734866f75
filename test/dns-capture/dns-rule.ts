/**
 * The socket-dns-filter rule stated again, independently of src/: which
 * Ethernet frames carry a DNS message the filter must keep. Used to judge
 * the program under BPF_PROG_TEST_RUN and to filter an unfiltered capture
 * of live traffic.
 *
 * A frame is kept when it is IPv4 (any IHL of at least 5 words) or IPv6
 * (next header UDP, or a Fragment header with offset 0 and next header UDP),
 * is not a non-first IPv4 fragment, carries UDP from or to `port`, and
 * holds the whole 12-byte DNS header, whose QDCOUNT is 1.
 */

const ETHERNET_BYTES = 14;
const DNS_HEADER_BYTES = 12;
const UDP_BYTES = 8;

function u16(frame: Uint8Array, at: number): number {
  return (frame[at]! << 8) | frame[at + 1]!;
}

/** Offset of the UDP header in an Ethernet frame, or undefined when the frame is not UDP the rule can follow. */
function udpOffset(frame: Uint8Array): number | undefined {
  const net = ETHERNET_BYTES;
  if (frame.byteLength < net) return undefined;
  const etherType = u16(frame, 12);
  if (etherType === 0x0800) {
    if (frame.byteLength < net + 20) return undefined;
    const version = frame[net]! >> 4;
    const headerBytes = (frame[net]! & 0x0f) * 4;
    if (version !== 4 || headerBytes < 20) return undefined;
    if (frame[net + 9] !== 17) return undefined;
    if ((u16(frame, net + 6) & 0x1fff) !== 0) return undefined;
    return net + headerBytes;
  }
  if (etherType === 0x86dd) {
    if (frame.byteLength < net + 40) return undefined;
    const nextHeader = frame[net + 6];
    if (nextHeader === 17) return net + 40;
    if (nextHeader !== 44 || frame.byteLength < net + 48) return undefined;
    const fragment = net + 40;
    if (frame[fragment] !== 17 || (u16(frame, fragment + 2) & 0xfff8) !== 0) return undefined;
    return fragment + 8;
  }
  return undefined;
}

export function keepsDnsFrame(frame: Uint8Array, port = 53): boolean {
  const udp = udpOffset(frame);
  if (udp === undefined || frame.byteLength < udp + UDP_BYTES + DNS_HEADER_BYTES) return false;
  if (u16(frame, udp) !== port && u16(frame, udp + 2) !== port) return false;
  return u16(frame, udp + UDP_BYTES + 4) === 1;
}
