import { callerLocation } from './dsl/callsite.js';
import { DslError } from './errors.js';
import type { ProgramBuilder } from './dsl/calls.js';
import { r0, r1, r2, r3, r4, r5, type AnyReg64 } from './dsl/registers.js';

/**
 * Building blocks for tc programs (sched_cls, attached through tcx or a
 * clsact qdisc in direct-action mode) that rewrite headers: verdicts, the
 * kernel's checksum helpers with differences precomputed at generation
 * time, and Ethernet address zeroing. Packet access itself is packet.ts
 * (`loadPacketPointers(b, 'tc', ...)`).
 */

/**
 * Verdicts of a tc program (TC_ACT_* in linux/pkt_cls.h; tcx names the same
 * values TCX_NEXT, TCX_PASS, TCX_DROP, TCX_REDIRECT). UNSPEC lets the next
 * program or filter decide, so a program that returns it for traffic it
 * does not handle coexists with others on the same hook.
 */
export const TcAction = { UNSPEC: -1, OK: 0, SHOT: 2, REDIRECT: 7 } as const;

/** Flags of bpf_l3_csum_replace / bpf_l4_csum_replace (linux/bpf.h). */
const CSUM_FLAG = {
  /** The changed bytes are part of the IPv4/IPv6 pseudo-header the L4 checksum covers. */
  PSEUDO_HDR: 1 << 4,
  /** UDP: leave a 0 checksum ("none") alone, and write a computed 0 as 0xffff. */
  MARK_MANGLED_0: 1 << 5,
} as const;

/** bpf_redirect flag: deliver into the target's receive path instead of transmitting from it. */
export const REDIRECT_INGRESS = 1;

/** A header field a program rewrites from one constant to another. */
export interface FieldChange {
  readonly bytes: 2 | 4;
  /** Old and new value as a little-endian load of the field reads them: be16/be32/ipv4 values. */
  readonly from: number;
  readonly to: number;
}

const ONES_COMPLEMENT_MODULUS = 0xffff;

/**
 * The checksum difference of rewriting `changes`, for the kernel helpers'
 * "by difference" form (`from` 0, `to` the difference, field size 0 in the
 * flags). The helpers add it to the checksum's ones'-complement sum as a
 * __wsum, so only its value modulo 0xffff matters: Σ(new − old) over the
 * 16-bit words of the fields, taken as the little-endian loads of those
 * words read them, which is the byte order the helpers sum the packet in.
 * 0 means the rewrite leaves every checksum as it is.
 */
export function checksumDiff(changes: readonly FieldChange[]): number {
  let diff = 0;
  for (const change of changes) {
    for (const value of [change.from, change.to]) {
      if (!Number.isInteger(value) || value < 0 || value >= 2 ** (change.bytes * 8)) {
        throw new DslError(callerLocation(checksumDiff), `field value ${value} does not fit ${change.bytes} bytes`);
      }
    }
    const words = (value: number) => (change.bytes === 2 ? [value] : [value & 0xffff, value >>> 16]);
    const from = words(change.from);
    words(change.to).forEach((to, i) => {
      diff += to - from[i]!;
    });
  }
  return ((diff % ONES_COMPLEMENT_MODULUS) + ONES_COMPLEMENT_MODULUS) % ONES_COMPLEMENT_MODULUS;
}

export interface ChecksumReplace {
  /** A callee-saved register (r6-r9) holding the program's context, the __sk_buff. */
  readonly ctx: AnyReg64;
  /** Offset of the checksum field from the first byte of the packet. */
  readonly offset: number;
  /** checksumDiff(...) of the rewrite; 0 emits nothing. */
  readonly diff: number;
  /** Where to jump when the helper fails (it could not make the packet writable). */
  readonly onError: string;
}

function callReplace(b: ProgramBuilder, helper: 'l3_csum_replace' | 'l4_csum_replace', replace: ChecksumReplace, flags: number): void {
  if (replace.diff === 0) return;
  b.mov(r1, replace.ctx);
  b.mov(r2, replace.offset);
  b.mov(r3, 0);
  b.mov(r4, replace.diff);
  b.mov(r5, flags);
  b.call(helper, r1, r2, r3, r4, r5);
  b.jne(r0, 0, replace.onError);
}

/**
 * Add a precomputed difference to the IPv4 header checksum through
 * bpf_l3_csum_replace. Clobbers r0-r5 and invalidates packet pointers, so
 * write the packet first.
 */
export function replaceIpv4Checksum(b: ProgramBuilder, replace: ChecksumReplace): void {
  callReplace(b, 'l3_csum_replace', replace, 0);
}

/**
 * Add a precomputed difference to a UDP checksum through
 * bpf_l4_csum_replace, which handles every kind of skb checksum:
 *
 * - a full checksum (CHECKSUM_NONE, _UNNECESSARY, _COMPLETE) gets the
 *   difference, and for CHECKSUM_COMPLETE the skb's sum follows a
 *   pseudo-header change;
 * - a CHECKSUM_PARTIAL skb (locally sent and not yet summed) holds only the
 *   pseudo-header sum, which gets a pseudo-header difference and keeps
 *   ignoring changes inside the datagram, which the final summing covers.
 *
 * So changes of addresses (`pseudoHeader`) and of ports must be separate
 * calls. A zero checksum ("none") stays zero, and a computed zero is written
 * as 0xffff. Clobbers r0-r5 and invalidates packet pointers.
 */
export function replaceUdpChecksum(b: ProgramBuilder, replace: ChecksumReplace & { readonly pseudoHeader: boolean }): void {
  callReplace(b, 'l4_csum_replace', replace, CSUM_FLAG.MARK_MANGLED_0 | (replace.pseudoHeader ? CSUM_FLAG.PSEUDO_HDR : 0));
}

/**
 * Set both Ethernet addresses, the 12 bytes before the EtherType, to
 * 00:00:00:00:00:00 (the address of `lo`); `data` must be bounds-checked.
 */
export function zeroEthernetAddresses(b: ProgramBuilder, data: AnyReg64): void {
  b.st('u64', data, 0, 0);
  b.st('u32', data, 8, 0);
}
