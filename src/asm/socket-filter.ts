import { callerLocation } from './dsl/callsite.js';
import type { ProgramBuilder } from './dsl/calls.js';
import { r0, r1, r2, r3, r4, r5, r10, type AnyReg64, type Reg64 } from './dsl/registers.js';
import { DslError } from './errors.js';

/**
 * Building blocks for socket filters (BPF_PROG_TYPE_SOCKET_FILTER), which
 * may not read packet memory directly. They see a struct __sk_buff and copy
 * packet bytes out with helpers.
 *
 * Offsets are taken from the network header, not from skb->data, because
 * where the data starts depends on the hook: on an AF_PACKET SOCK_RAW socket
 * it is the link-layer header (Ethernet, also on lo; nothing on a tun
 * device), under BPF_PROG_TEST_RUN it is the network header.
 * skb->protocol names the network protocol in both cases.
 */

/** Fields of struct __sk_buff (u32 each) that socket filters may read. */
export const SkBuff = { len: 0, pktType: 4, protocol: 16, ifindex: 40 } as const;

/** enum bpf_hdr_start_off: what skb_load_bytes_relative's offset is counted from. */
export const HeaderStart = { mac: 0, net: 1 } as const;

export interface NetworkBytesLoad {
  /** The __sk_buff pointer, in r1 or a callee-saved register (r6-r9): the call clobbers r1-r5. */
  readonly ctx: AnyReg64;
  /** Bytes from the start of the network header: a constant or a register. */
  readonly offset: number | Reg64;
  /** Destination on the stack, as an offset from r10 (negative). */
  readonly stackOffset: number;
  readonly length: number;
}

/**
 * Copy `length` bytes at `offset` from the network header to the stack
 * (skb_load_bytes_relative, Linux 4.18); jump to `otherwise` when the packet
 * ends before them. One helper call however many fields the bytes hold:
 * measured in bench/socket-filter-access.ts, that beats a legacy ld_abs/ld_ind
 * per field. Clobbers r0-r5.
 */
export function loadNetworkHeaderBytes(b: ProgramBuilder, load: NetworkBytesLoad, otherwise: string): void {
  if (load.ctx.index >= r2.index && load.ctx.index <= r5.index) {
    throw new DslError(callerLocation(loadNetworkHeaderBytes), `the context pointer must be in r1 or r6-r9, not ${load.ctx}: the helper call's arguments overwrite r2-r5`);
  }
  // r2 first: the offset may sit in r1, which the context pointer replaces next.
  if (load.offset !== r2) b.mov(r2, load.offset);
  if (load.ctx !== r1) b.mov(r1, load.ctx);
  b.mov(r3, r10);
  b.add(r3, load.stackOffset);
  b.mov(r4, load.length);
  b.mov(r5, HeaderStart.net);
  b.call('skb_load_bytes_relative', r1, r2, r3, r4, r5);
  b.jne(r0, 0, otherwise);
}
