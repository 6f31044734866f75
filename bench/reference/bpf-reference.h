/*
 * What the reference programs need from libbpf's headers, written out so
 * that compiling them needs only clang and the kernel's UAPI headers
 * (linux-libc-dev): section placement, inlining, byte order, map
 * declarations and the helpers, each called through its id as libbpf's are.
 */
#ifndef BPF_REFERENCE_H
#define BPF_REFERENCE_H

#include <linux/bpf.h>
#include <linux/types.h>

#define SEC(name) __attribute__((section(name), used))
#define INLINE static inline __attribute__((always_inline))

/* Network byte order for constants and values; BPF on x86 is little-endian. */
#define bpf_htons(x) ((__be16)__builtin_bswap16((__u16)(x)))
#define bpf_htonl(x) ((__be32)__builtin_bswap32((__u32)(x)))

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from, __u32 len, __u64 flags) =
    (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_l3_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to, __u64 size) =
    (void *)BPF_FUNC_l3_csum_replace;
static long (*bpf_l4_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to, __u64 flags) =
    (void *)BPF_FUNC_l4_csum_replace;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_redirect_neigh)(__u32 ifindex, void *params, int plen, __u64 flags) = (void *)BPF_FUNC_redirect_neigh;
static long (*bpf_skb_load_bytes_relative)(const void *skb, __u32 offset, void *to, __u32 len, __u32 start_header) =
    (void *)BPF_FUNC_skb_load_bytes_relative;

/*
 * BTF-defined maps (section .maps), as libbpf 1.x and bpfgen's ELF reader
 * take them: the parameters are encoded in the member types, which the BTF
 * that clang emits with -g describes.
 */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

#endif
