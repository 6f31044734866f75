import { be16 } from './byteorder.js';
import { callerLocation } from './dsl/callsite.js';
import { DslError } from './errors.js';
import type { ProgramBuilder } from './dsl/calls.js';
import type { AnyReg64, Reg64 } from './dsl/registers.js';

/**
 * Building blocks for packet programs (XDP, TC), as plain functions that
 * emit instructions into a builder. Offsets are byte offsets from the start
 * of the Ethernet header; field values are read with little-endian loads of
 * network-order bytes, so constants go through be16/be32/ipv4 (byteorder.ts).
 */

/** XDP program return codes (enum xdp_action). */
export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;

/** Where the context holds the packet's first byte and end: struct xdp_md and struct __sk_buff (u32 fields). */
const PACKET_POINTERS = {
  xdp: { data: 0, dataEnd: 4 },
  tc: { data: 76, dataEnd: 80 },
} as const;
export type PacketHook = keyof typeof PACKET_POINTERS;

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
/** The IPv6 Fragment extension header's number (RFC 8200 section 4.5). */
export const IPPROTO_FRAGMENT = 44;

/** Field offsets within each header. */
export const Ethernet = { size: 14, etherType: 12 } as const;
/** IPv4 without options (IHL 5). */
export const Ipv4 = { size: 20, versionIhl: 0, fragment: 6, protocol: 9, checksum: 10, saddr: 12, daddr: 16 } as const;
export const Udp = { size: 8, sport: 0, dport: 2, length: 4, checksum: 6 } as const;
/** The fixed IPv6 header (RFC 8200). */
export const Ipv6 = { size: 40, nextHeader: 6, saddr: 8, daddr: 24 } as const;
/** The IPv6 Fragment header: `offsetFlags` is the 16-bit word of the 13-bit fragment offset, 2 reserved bits and the M flag. */
export const Ipv6Fragment = { size: 8, nextHeader: 0, offsetFlags: 2 } as const;
/** The fragment offset bits of Ipv6Fragment.offsetFlags. */
export const IPV6_FRAGMENT_OFFSET_MASK = 0xfff8;

/** Version 4, header length 5 words: the only IPv4 header requireIpv4Udp accepts. */
export const IPV4_WITHOUT_OPTIONS = 0x45;
/** The 13-bit fragment offset of the IPv4 flags/offset field. */
export const FRAGMENT_OFFSET_MASK = 0x1fff;

export interface PacketRegisters {
  /** Pointer to the first byte of the packet. */
  readonly data: Reg64;
  /** Pointer just past the last byte. */
  readonly dataEnd: Reg64;
}

/** `data = ctx->data; dataEnd = ctx->data_end` for the given hook. */
export function loadPacketPointers(b: ProgramBuilder, hook: PacketHook, ctx: AnyReg64, regs: PacketRegisters): void {
  const at = PACKET_POINTERS[hook];
  b.ldx('u32', regs.data, ctx, at.data);
  b.ldx('u32', regs.dataEnd, ctx, at.dataEnd);
}

/** Jump to `otherwise` unless the packet holds at least `bytes` bytes; the verifier then allows access to them. */
export function requirePacketBytes(b: ProgramBuilder, regs: PacketRegisters & { readonly scratch: Reg64 }, bytes: number, otherwise: string): void {
  b.mov(regs.scratch, regs.data);
  b.add(regs.scratch, bytes);
  b.jgt(regs.scratch, regs.dataEnd, otherwise);
}

/** Offsets of the headers found by requireIpv4Udp. */
export interface Ipv4UdpLayout {
  readonly ip: number;
  readonly udp: number;
  readonly payload: number;
}

/**
 * Continue only for an Ethernet frame carrying an IPv4 header without
 * options (IHL 5) and an unfragmented-or-first-fragment UDP datagram; jump
 * to `otherwise` for anything else, including short packets. Packets with IP
 * options are left alone rather than parsed at a variable offset, and
 * non-first fragments are refused because their payload is not a UDP header.
 * Clobbers `scratch`.
 */
export function requireIpv4Udp(
  b: ProgramBuilder,
  regs: PacketRegisters & { readonly scratch: Reg64 },
  otherwise: string,
): Ipv4UdpLayout {
  const layout = { ip: Ethernet.size, udp: Ethernet.size + Ipv4.size, payload: Ethernet.size + Ipv4.size + Udp.size };
  const { data, scratch } = regs;
  requirePacketBytes(b, regs, layout.payload, otherwise);
  b.ldx('u16', scratch, data, Ethernet.etherType);
  b.jne(scratch, be16(ETH_P_IP), otherwise);
  b.ldx('u8', scratch, data, layout.ip + Ipv4.versionIhl);
  b.jne(scratch, IPV4_WITHOUT_OPTIONS, otherwise);
  b.ldx('u16', scratch, data, layout.ip + Ipv4.fragment);
  b.jset(scratch, be16(FRAGMENT_OFFSET_MASK), otherwise);
  b.ldx('u8', scratch, data, layout.ip + Ipv4.protocol);
  b.jne(scratch, IPPROTO_UDP, otherwise);
  return layout;
}

/** Ones'-complement sums of 16-bit words are sums modulo this. */
export const ONES_COMPLEMENT_MODULUS = 0xffff;

/**
 * The generation-time half of an incremental UDP checksum update (RFC 1624)
 * for one 16-bit word of the checksummed data changing from `oldWord` to
 * `newWord`; applyUdpChecksumAdjustment emits the run-time half.
 *
 * RFC 1624 eqn 3 is HC' = ~(~HC + ~m + m'). Ones-complement sums are sums
 * modulo 0xffff in which ~x is -x, so HC' ≡ HC + m - m' (mod 0xffff). Of the
 * two representations of zero, UDP never sends 0 (it means "no checksum";
 * a computed 0 goes out as 0xffff, RFC 768), so the right representative is
 * the one in 1..0xffff:
 *
 *     HC' = ((HC + adjustment) mod 0xffff) + 1,  adjustment = ((m - m') mod 0xffff) - 1
 *
 * HC + adjustment is never negative because a present checksum is at least 1.
 * Byte order does not matter as long as HC, m and m' are all read the same
 * way: swapping the bytes of a 16-bit word multiplies it by 256 modulo
 * 0xffff and maps 1..0xffff onto itself, so pass be16() values alongside a
 * checksum field read by a 16-bit load.
 */
export function udpChecksumAdjustment(oldWord: number, newWord: number): number {
  for (const word of [oldWord, newWord]) {
    if (!Number.isInteger(word) || word < 0 || word > 0xffff) {
      throw new DslError(callerLocation(udpChecksumAdjustment), `checksum word ${word} is not a 16-bit value`);
    }
  }
  const delta = (oldWord - newWord) % ONES_COMPLEMENT_MODULUS;
  return (delta + ONES_COMPLEMENT_MODULUS) % ONES_COMPLEMENT_MODULUS - 1;
}

export interface UdpChecksumUpdate {
  /** Register holding the address the checksum offset is relative to. */
  readonly base: AnyReg64;
  /** Offset of the UDP checksum field from `base`. */
  readonly offset: number;
  /** udpChecksumAdjustment(...) as a constant, or a register holding exactly that value (-1..0xfffd). */
  readonly adjustment: number | Reg64;
  readonly scratch: Reg64;
  /** Where to jump when the checksum is 0, "not computed", which must stay 0. */
  readonly whenAbsent: string;
}

/** Multiplying by this puts a copy of a value 16 bits up, so that bits 16-31 of the product are the value folded once. */
const FOLD_MULTIPLIER = 0x10001;

/**
 * Apply a udpChecksumAdjustment to the checksum field in place; clobbers `scratch`.
 *
 * With t = HC + adjustment + 1, in 1..0x1fffd, the result
 * ((HC + adjustment) mod 0xffff) + 1 is t folded once: t up to 0xffff, else
 * t - 0xffff, which is the low 16 bits of t + (t >> 16), which are bits
 * 16-31 of t * 0x10001. A multiply and a shift, where a modulo would be a
 * division, which costs tens of cycles; the 16-bit store keeps those bits.
 */
export function applyUdpChecksumAdjustment(b: ProgramBuilder, update: UdpChecksumUpdate): void {
  const { base, offset, scratch, adjustment } = update;
  b.ldx('u16', scratch, base, offset);
  b.jeq(scratch, 0, update.whenAbsent);
  if (typeof adjustment === 'number') {
    if (!Number.isInteger(adjustment) || adjustment < -1 || adjustment > ONES_COMPLEMENT_MODULUS - 2) {
      throw new DslError(callerLocation(applyUdpChecksumAdjustment), `checksum adjustment ${adjustment} is not a udpChecksumAdjustment value (-1..0xfffd)`);
    }
    b.add(scratch, adjustment + 1);
  } else {
    b.add(scratch, adjustment);
    b.add(scratch, 1);
  }
  b.mul(scratch, FOLD_MULTIPLIER);
  b.rsh(scratch, 16);
  b.stx('u16', base, offset, scratch);
}
