/**
 * The running kernel's own BTF, which describes every type of vmlinux:
 * probes and tests ask it which helpers, program types and structs this
 * kernel has, without headers.
 */
import { readFileSync } from 'node:fs';
import { Btf } from './reader.js';

export const KERNEL_BTF_PATH = '/sys/kernel/btf/vmlinux';

/** Read and index the kernel's BTF (about 5 MB, indexed in one pass; types are decoded on demand). */
export function readKernelBtf(path = KERNEL_BTF_PATH): Btf {
  return Btf.parse(new Uint8Array(readFileSync(path)));
}

/** The enumerators of `enum name` (e.g. `bpf_func_id`), or undefined when the BTF has no such enum. */
export function enumValues(btf: Btf, name: string): Map<string, number> | undefined {
  const found = btf.find('enum', name);
  if (found) return new Map(found.values.map((v) => [v.name, v.value]));
  const wide = btf.find('enum64', name);
  return wide ? new Map(wide.values.map((v) => [v.name, Number(v.value)])) : undefined;
}
