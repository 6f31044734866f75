/**
 * What the kernel holds, seen from outside bpfgen: the program and link
 * lists as bpftool prints them, and what bpftool and ip show attached in a
 * namespace. The leak and crash tests compare them before and after.
 */
import { closeSync, openSync } from 'node:fs';
import { native } from '../../../src/loader/native.js';
import { bpftool } from '../../loader/support.js';
import type { Netns } from '../../support/netns.js';

const CLONE_NEWNET = 0x40000000;

interface BpftoolProgram {
  readonly id: number;
  readonly name?: string;
}

interface BpftoolLink {
  readonly id: number;
  readonly prog_id: number;
}

/** Ids of every program the kernel has loaded (bpftool prog list). */
export function liveProgramIds(): Set<number> {
  return new Set((bpftool('prog', 'list') as BpftoolProgram[]).map((program) => program.id));
}

/** Every bpf link the kernel has (bpftool link list). */
export function liveLinks(): BpftoolLink[] {
  return bpftool('link', 'list') as BpftoolLink[];
}

/**
 * The programs of `ids` still loaded, and the links still running one of
 * them, once the kernel has had up to `timeoutMs` to free them: programs go
 * some time after their last reference, in an RCU callback.
 */
export async function survivors(ids: ReadonlySet<number>, timeoutMs = 10_000): Promise<{ programs: number[]; links: number[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const programs = [...liveProgramIds()].filter((id) => ids.has(id));
    const links = liveLinks().filter((link) => ids.has(link.prog_id)).map((link) => link.id);
    if ((programs.length === 0 && links.length === 0) || Date.now() > deadline) return { programs, links };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * What `bpftool net` lists in a namespace: XDP, tc filters and flow
 * dissector attachments. bpftool 7.1 does not list tcx attachments there;
 * those are bpf links, which survivors() checks by program id.
 */
export function attachedIn(netns: Netns): unknown[] {
  const [net] = JSON.parse(netns.execOk('bpftool', ['--json', 'net'])) as Record<string, unknown[]>[];
  return Object.values(net ?? {}).flat();
}

/**
 * Move this thread into `netns` until the returned function is called, so
 * that interface names, netlink sockets and attachments of the code under
 * test are those of the namespace. Synchronous file system calls run on
 * this thread too (sysctl writes included); the libuv thread pool does not.
 */
export function enterNetns(netns: Netns): () => void {
  const home = openSync('/proc/thread-self/ns/net', 'r');
  const target = openSync(`/run/netns/${netns.name}`, 'r');
  try {
    native().setns(target, CLONE_NEWNET);
  } catch (error) {
    closeSync(home);
    throw error;
  } finally {
    closeSync(target);
  }
  return () => {
    try {
      native().setns(home, CLONE_NEWNET);
    } finally {
      closeSync(home);
    }
  };
}
