/*
 * xdp-dns-forward in C with its settings as compile-time constants:
 * the bench passes -DDNS_IP=0x647f88f1 -DDNS_PORT=53 -DLISTEN_PORT=5053
 * (host byte order), the C counterpart of building with options.
 *
 * Same work as src/programs/xdp-dns-forward.ts: an Ethernet/IPv4 frame
 * without IP options, not a non-first fragment, carrying UDP:
 * - a query to DNS_IP:DNS_PORT gets destination port LISTEN_PORT;
 * - else a reply from DNS_IP:LISTEN_PORT gets source port DNS_PORT;
 * the UDP checksum, when present, is updated incrementally (RFC 1624).
 * Every packet passes.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include "bpf-reference.h"
#include "udp-checksum.h"

/* The 13-bit fragment offset of frag_off (the kernel calls it IP_OFFSET, outside the UAPI headers). */
#define IP_FRAGMENT_OFFSET 0x1fff

SEC("xdp")
int xdp_dns_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->version != 4 || ip->ihl != 5)
		return XDP_PASS;
	if (ip->frag_off & bpf_htons(IP_FRAGMENT_OFFSET))
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;

	if (udp->dest == bpf_htons(DNS_PORT) && ip->daddr == bpf_htonl(DNS_IP)) {
		udp->dest = bpf_htons(LISTEN_PORT);
		udp_checksum_replace(&udp->check, bpf_htons(DNS_PORT), bpf_htons(LISTEN_PORT));
	} else if (udp->source == bpf_htons(LISTEN_PORT) && ip->saddr == bpf_htonl(DNS_IP)) {
		udp->source = bpf_htons(DNS_PORT);
		udp_checksum_replace(&udp->check, bpf_htons(LISTEN_PORT), bpf_htons(DNS_PORT));
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
