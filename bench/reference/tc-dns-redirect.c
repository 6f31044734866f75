/*
 * tc-dns-redirect in C: the two tc programs of the Docker-style DNS
 * redirect, with their settings as compile-time constants (host byte
 * order): RESOLVER_IP, RESOLVER_PORT, UPSTREAM_IP, UPSTREAM_PORT,
 * CONTAINER_IP, ETH_IFINDEX and LO_IFINDEX.
 *
 * Same work as src/programs/tc-dns-redirect.ts. For an Ethernet/IPv4
 * frame without IP options, not a non-first fragment, carrying UDP:
 * - dns_redir_lo (lo ingress): a query from 127.0.0.1 to the resolver gets
 *   source CONTAINER_IP, destination UPSTREAM_IP:UPSTREAM_PORT, and leaves
 *   by ETH_IFINDEX through bpf_redirect_neigh;
 * - dns_redir_eth (eth ingress): an answer from the upstream to
 *   CONTAINER_IP gets source RESOLVER_IP:RESOLVER_PORT, destination
 *   127.0.0.1 and zeroed MAC addresses, and is redirected into LO_IFINDEX's
 *   receive path.
 * The IPv4 and UDP checksums follow every changed field; a checksum helper
 * that fails drops the packet (TC_ACT_SHOT); anything else is left to the
 * next program (TC_ACT_UNSPEC).
 *
 * Each field is rewritten the way the kernel's own samples and most tc
 * programs do it: bpf_l4_csum_replace and bpf_l3_csum_replace from the old
 * to the new value, then bpf_skb_store_bytes.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <stddef.h>
#include "bpf-reference.h"

#define IP_FRAGMENT_OFFSET 0x1fff
#define LOOPBACK_CLIENT 0x7f000001 /* 127.0.0.1 */

#define IP_AT ETH_HLEN
#define UDP_AT (IP_AT + sizeof(struct iphdr))
#define IP_CHECKSUM_AT (IP_AT + offsetof(struct iphdr, check))
#define UDP_CHECKSUM_AT (UDP_AT + offsetof(struct udphdr, check))

/* The IPv4/UDP headers of an Ethernet frame the programs handle, or NULL. */
INLINE struct iphdr *ipv4_udp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end)
		return NULL;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	if (ip->version != 4 || ip->ihl != 5)
		return NULL;
	if (ip->frag_off & bpf_htons(IP_FRAGMENT_OFFSET))
		return NULL;
	if (ip->protocol != IPPROTO_UDP)
		return NULL;
	return ip;
}

/* An IPv4 address at `at`, which the UDP checksum covers through its pseudo-header. */
INLINE int set_address(struct __sk_buff *skb, __u32 at, __be32 from, __be32 to)
{
	if (bpf_l4_csum_replace(skb, UDP_CHECKSUM_AT, from, to, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(to)))
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CHECKSUM_AT, from, to, sizeof(to)))
		return -1;
	return bpf_skb_store_bytes(skb, at, &to, sizeof(to), 0);
}

INLINE int set_port(struct __sk_buff *skb, __u32 at, __be16 from, __be16 to)
{
	if (bpf_l4_csum_replace(skb, UDP_CHECKSUM_AT, from, to, BPF_F_MARK_MANGLED_0 | sizeof(to)))
		return -1;
	return bpf_skb_store_bytes(skb, at, &to, sizeof(to), 0);
}

SEC("tc")
int dns_redir_lo(struct __sk_buff *skb)
{
	struct iphdr *ip = ipv4_udp(skb);
	if (!ip)
		return TC_ACT_UNSPEC;
	struct udphdr *udp = (void *)(ip + 1);
	if (udp->dest != bpf_htons(RESOLVER_PORT) || ip->daddr != bpf_htonl(RESOLVER_IP) || ip->saddr != bpf_htonl(LOOPBACK_CLIENT))
		return TC_ACT_UNSPEC;

	if (set_address(skb, IP_AT + offsetof(struct iphdr, saddr), bpf_htonl(LOOPBACK_CLIENT), bpf_htonl(CONTAINER_IP)) ||
	    set_address(skb, IP_AT + offsetof(struct iphdr, daddr), bpf_htonl(RESOLVER_IP), bpf_htonl(UPSTREAM_IP)) ||
	    set_port(skb, UDP_AT + offsetof(struct udphdr, dest), bpf_htons(RESOLVER_PORT), bpf_htons(UPSTREAM_PORT)))
		return TC_ACT_SHOT;
	return bpf_redirect_neigh(ETH_IFINDEX, NULL, 0, 0);
}

SEC("tc")
int dns_redir_eth(struct __sk_buff *skb)
{
	struct iphdr *ip = ipv4_udp(skb);
	if (!ip)
		return TC_ACT_UNSPEC;
	struct udphdr *udp = (void *)(ip + 1);
	if (udp->source != bpf_htons(UPSTREAM_PORT) || ip->saddr != bpf_htonl(UPSTREAM_IP) || ip->daddr != bpf_htonl(CONTAINER_IP))
		return TC_ACT_UNSPEC;

	/* lo's own address on both ends, so that the answer is for this host. */
	struct ethhdr *eth = (void *)ip - sizeof(struct ethhdr);
	__builtin_memset(eth, 0, 2 * ETH_ALEN);
	if (set_address(skb, IP_AT + offsetof(struct iphdr, saddr), bpf_htonl(UPSTREAM_IP), bpf_htonl(RESOLVER_IP)) ||
	    set_address(skb, IP_AT + offsetof(struct iphdr, daddr), bpf_htonl(CONTAINER_IP), bpf_htonl(LOOPBACK_CLIENT)) ||
	    set_port(skb, UDP_AT + offsetof(struct udphdr, source), bpf_htons(UPSTREAM_PORT), bpf_htons(RESOLVER_PORT)))
		return TC_ACT_SHOT;
	return bpf_redirect(LO_IFINDEX, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
