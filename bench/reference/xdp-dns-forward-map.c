/*
 * xdp-dns-forward in C with its settings in an array map, as NetBird's
 * dns_fwd.c keeps them, so that user space can change them while the
 * program stays attached. Entry 0 holds the three settings as the packet
 * carries them (network order), the layout of bpfgen's map-configured
 * variant (dnsForwardConfigValue in src/programs/xdp-dns-forward.ts).
 *
 * Same work as that variant: the checks of xdp-dns-forward-const.c, one
 * lookup of the settings per IPv4/UDP packet, then the rewrite with the
 * checksum updated from the ports read. The map is declared with BTF, as
 * libbpf 1.x requires, so this file is compiled with -g.
 */
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include "bpf-reference.h"
#include "udp-checksum.h"

#define IP_FRAGMENT_OFFSET 0x1fff

struct dns_fwd_settings {
	__be32 dns_ip;
	__be16 dns_port;
	__be16 listen_port;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct dns_fwd_settings);
	__uint(max_entries, 1);
} dns_fwd_cfg SEC(".maps");

SEC("xdp")
int xdp_dns_fwd_map(struct xdp_md *ctx)
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

	__u32 key = 0;
	struct dns_fwd_settings *settings = bpf_map_lookup_elem(&dns_fwd_cfg, &key);
	if (!settings)
		return XDP_PASS;

	if (udp->dest == settings->dns_port && ip->daddr == settings->dns_ip) {
		udp->dest = settings->listen_port;
		udp_checksum_replace(&udp->check, settings->dns_port, settings->listen_port);
	} else if (udp->source == settings->listen_port && ip->saddr == settings->dns_ip) {
		udp->source = settings->dns_port;
		udp_checksum_replace(&udp->check, settings->listen_port, settings->dns_port);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
