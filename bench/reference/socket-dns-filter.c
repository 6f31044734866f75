/*
 * socket-dns-filter in C, with the DNS port as a compile-time constant
 * (PORT). Same work as src/programs/socket-dns-filter.ts: keep (return the
 * packet's length) a UDP datagram from or to PORT whose DNS header has
 * QDCOUNT 1, carried by
 * - IPv4, with or without options, and not a non-first fragment;
 * - IPv6 with UDP as the next header, directly or after a Fragment header
 *   of offset 0;
 * and drop (return 0) everything else, including anything too short for
 * its IP, UDP and DNS headers.
 *
 * Socket filters cannot read the packet directly: each header is copied to
 * the stack with bpf_skb_load_bytes_relative from the network header (so
 * that offsets are the same on a packet socket and under a test run), one
 * call per header as such filters are usually written.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include "bpf-reference.h"

#define IP_FRAGMENT_OFFSET 0x1fff
#define IPV6_FRAGMENT_OFFSET 0xfff8

/* The UDP header and the start of the DNS header (RFC 1035 4.1.1). */
struct udp_dns {
	struct udphdr udp;
	__be16 id;
	__be16 flags;
	__be16 qdcount;
	__be16 ancount;
	__be16 nscount;
	__be16 arcount;
};

/* The IPv6 Fragment header (RFC 8200 4.5). */
struct ipv6_fragment {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

INLINE int load(struct __sk_buff *skb, __u32 offset, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, offset, to, len, BPF_HDR_START_NET);
}

/* The UDP and DNS headers at `offset` from the network header: keep or drop. */
INLINE int udp_dns(struct __sk_buff *skb, __u32 offset)
{
	struct udp_dns h;
	if (load(skb, offset, &h, sizeof(h)))
		return 0;
	if (h.udp.source != bpf_htons(PORT) && h.udp.dest != bpf_htons(PORT))
		return 0;
	if (h.qdcount != bpf_htons(1))
		return 0;
	return skb->len;
}

SEC("socket")
int sock_dns_filter(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (load(skb, 0, &ip, sizeof(ip)))
			return 0;
		if (ip.protocol != IPPROTO_UDP || (ip.frag_off & bpf_htons(IP_FRAGMENT_OFFSET)))
			return 0;
		if (ip.version != 4 || ip.ihl < 5)
			return 0;
		return udp_dns(skb, ip.ihl * 4);
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (load(skb, 0, &ip6, sizeof(ip6)))
			return 0;
		if (ip6.nexthdr == IPPROTO_UDP)
			return udp_dns(skb, sizeof(ip6));
		if (ip6.nexthdr != IPPROTO_FRAGMENT)
			return 0;
		struct ipv6_fragment fragment;
		if (load(skb, sizeof(ip6), &fragment, sizeof(fragment)))
			return 0;
		if ((fragment.frag_off & bpf_htons(IPV6_FRAGMENT_OFFSET)) || fragment.nexthdr != IPPROTO_UDP)
			return 0;
		return udp_dns(skb, sizeof(ip6) + sizeof(fragment));
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
