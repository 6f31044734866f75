/*
 * RFC 1624 incremental update of a UDP checksum for one 16-bit word
 * changing from `from` to `to` (all three as read from the packet, so byte
 * order does not matter): HC' = ~(~HC + ~m + m'), with the carries folded.
 * A zero checksum means "none" and stays zero; a computed zero is sent as
 * 0xffff (RFC 768).
 */
#ifndef UDP_CHECKSUM_H
#define UDP_CHECKSUM_H

#include "bpf-reference.h"

INLINE void udp_checksum_replace(__sum16 *check, __be16 from, __be16 to)
{
	__u16 old = *check;
	if (old == 0)
		return;
	__u32 sum = (__u16)~old + (__u16)~from + (__u16)to;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	__u16 updated = ~sum;
	*check = updated ? updated : 0xffff;
}

#endif
