/* The smallest XDP program: what clang costs before there is any code to compile. */
#include "bpf-reference.h"

SEC("xdp")
int empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
