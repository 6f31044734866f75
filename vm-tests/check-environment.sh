#!/bin/sh
# What the kernel tests expect of a machine, checked before they run so that
# a missing piece shows up as one line rather than as many test failures:
# bpffs, tracefs, cgroup2 and /run/netns mounted, network namespaces and veth
# pairs (loaded on demand by modprobe), and the DNS tools the scenarios drive.
# Run by command.sh on the host and in each guest; prints one progress line.
missing=""
need() { "$@" >/dev/null 2>&1 || missing="$missing $name"; }

name=bpffs; need grep -q ' /sys/fs/bpf bpf ' /proc/mounts
name=tracefs; need grep -q ' tracefs ' /proc/mounts
name=cgroup2; need grep -q ' cgroup2 ' /proc/mounts
name=/run/netns; need test -d /run/netns
for tool in ip tc bpftool dig dnsmasq; do name=$tool; need command -v "$tool"; done

netns="vmtests-check-$$"
name=netns; need ip netns add "$netns"
name=veth; need ip -n "$netns" link add "vmt$$a" type veth peer name "vmt$$b"
ip netns delete "$netns" 2>/dev/null

if [ -z "$missing" ]; then
  echo "@vmtests environment: bpffs, tracefs, cgroup2, /run/netns, netns, veth, ip, tc, bpftool, dig, dnsmasq all present"
else
  echo "@vmtests environment: missing$missing"
fi
