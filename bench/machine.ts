/** What the numbers were measured on, recorded beside them. */
import { readFileSync } from 'node:fs';
import { arch, cpus, release, totalmem } from 'node:os';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface Machine {
  readonly kernel: string;
  readonly arch: string;
  readonly cpu: { readonly model: string; readonly count: number };
  readonly memoryBytes: number;
  readonly bpfJitEnable: string | undefined;
  readonly node: string;
  readonly v8: string;
}

export function machine(): Machine {
  const cpu = cpus();
  return {
    kernel: release(),
    arch: arch(),
    cpu: { model: cpu[0]?.model ?? 'unknown', count: cpu.length },
    memoryBytes: totalmem(),
    bpfJitEnable: read('/proc/sys/net/core/bpf_jit_enable'),
    node: process.versions.node,
    v8: process.versions.v8,
  };
}

/** One line: kernel, CPU, Node and the JIT setting. */
export function machineLine(about: Machine): string {
  return `Linux ${about.kernel} ${about.arch}, ${about.cpu.model} x${about.cpu.count}, Node ${about.node}, bpf_jit_enable=${about.bpfJitEnable ?? '?'}`;
}
