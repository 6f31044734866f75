/**
 * BTF for a program's functions, as the kernel wants it with func_info: a
 * FUNC with its FUNC_PROTO per function. The entry function is
 * `int name(struct <ctx> *ctx)`, global; a subprogram is `long name(void)`,
 * static, because the DSL does not know its arguments and the verifier
 * checks BTF arguments only of global functions (callbacks must be static).
 */
import type { ProgramType } from '../program.js';
import type { BtfBuilder } from './writer.js';
import { IntEncoding } from './types.js';

/** The context struct each program type's entry function receives. */
const CONTEXT_STRUCT: Readonly<Record<ProgramType, string>> = {
  xdp: 'xdp_md',
  sched_cls: '__sk_buff',
  sched_act: '__sk_buff',
  socket_filter: '__sk_buff',
  cgroup_skb: '__sk_buff',
  kprobe: 'pt_regs',
  tracepoint: 'pt_regs',
};

/** BTF names of functions and variables must be C identifiers; symbol names may also hold '.' and '$'. */
export const btfIdentifier = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_');

/** Add the FUNC of a function (and its prototype); returns the FUNC's id. */
export function addFunctionType(btf: BtfBuilder, name: string, entry: boolean, type: ProgramType): number {
  if (entry) {
    const int = btf.intern({ kind: 'int', name: 'int', size: 4, bits: 32, encoding: IntEncoding.signed });
    const context = btf.intern({ kind: 'fwd', name: CONTEXT_STRUCT[type], union: false });
    const proto = btf.intern({ kind: 'func_proto', returnType: int, params: [{ name: 'ctx', type: btf.intern({ kind: 'ptr', type: context }) }] });
    return btf.add({ kind: 'func', name: btfIdentifier(name), type: proto, linkage: 'global' });
  }
  const long = btf.intern({ kind: 'int', name: 'long', size: 8, bits: 64, encoding: IntEncoding.signed });
  const proto = btf.intern({ kind: 'func_proto', returnType: long, params: [] });
  return btf.add({ kind: 'func', name: btfIdentifier(name), type: proto, linkage: 'static' });
}
