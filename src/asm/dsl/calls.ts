import { callHelper, callKfunc, callLocal } from '../func.js';
import { helperByName, type HelperName } from '../helpers.js';
import { ldPseudo } from '../load_store.js';
import type { AssembledProgram } from '../program.js';
import { assemble } from './assemble.js';
import type { FunctionDraft } from './emitter.js';
import { MapBuilder } from './maps.js';
import type { AnyReg, Reg64 } from './registers.js';

/**
 * The complete DSL: calls (helpers, subprograms, kfuncs) and assembly.
 *
 *     const b = new ProgramBuilder({ name: 'count', type: 'xdp', license: 'GPL', maps: [counters] });
 *     b.ldMap(r1, 'counters');
 *     b.call('map_lookup_elem', r1, r2);
 *     ...
 *     const program = b.assemble();
 */
export class ProgramBuilder extends MapBuilder {
  /**
   * Call a kernel helper by name (without the `bpf_` prefix). List the
   * argument registers, r1 first: the list documents which registers the
   * call reads and is checked against the helper's argument count.
   */
  call(name: HelperName, ...args: AnyReg[]): this {
    const entry = this.call;
    const helper = helperByName(name);
    if (!helper) {
      const unprefixed = typeof name === 'string' && name.startsWith('bpf_') ? name.slice(4) : undefined;
      const hint = unprefixed && helperByName(unprefixed) ? `; write '${unprefixed}' without the bpf_ prefix` : '';
      this.fail(entry, `unknown helper '${String(name)}'${hint}`);
    }
    const max = helper.maxArgs ?? helper.args;
    if (args.length < helper.args || args.length > max) {
      const expected = max === helper.args ? `${helper.args}` : `${helper.args} to ${max}`;
      const registers = max === 0 ? '' : ` (r1${max > 1 ? `-r${max}` : ''})`;
      this.fail(entry, `helper ${name} takes ${expected} argument${max === 1 ? '' : 's'}${registers}, ${args.length} given`);
    }
    args.forEach((arg, i) => {
      const register = this.register(entry, arg, `argument ${i + 1} of ${name}`);
      if (register.index !== i + 1) this.fail(entry, `argument ${i + 1} of ${name} is passed in r${i + 1}, not ${register}`);
    });
    return this.push(entry, callHelper(helper.id));
  }

  /** Call a helper by numeric id, unchecked: for helpers newer than the table. */
  callHelperId(id: number): this {
    const entry = this.callHelperId;
    if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) this.fail(entry, `helper id ${id} is not a non-negative 32-bit integer`);
    return this.push(entry, callHelper(id));
  }

  /** bpf-to-bpf call of a subprogram declared (before or after) with `subprogram`. */
  callLocal(name: string): this {
    const entry = this.callLocal;
    return this.push(entry, callLocal(0), { kind: 'local', function: this.symbolName(entry, name, 'subprogram'), reloc: 'call' });
  }

  /** `dst = &subprogram` (ld_imm64, pseudo source FUNC): a callback for helpers such as loop or for_each_map_elem. */
  ldFunc(dst: Reg64, name: string): this {
    const entry = this.ldFunc;
    const d = this.destination(entry, dst);
    if (d.bits !== 64) this.fail(entry, `a function address is a 64-bit pointer; use r${d.index}, not ${d}`);
    return this.push(entry, ldPseudo(d.index, 'FUNC', 0), { kind: 'local', function: this.symbolName(entry, name, 'subprogram'), reloc: 'func_addr' });
  }

  /** Call a kernel function; the loader resolves its BTF id by name (`kfunc` relocation). */
  callKfunc(name: string): this {
    const entry = this.callKfunc;
    return this.push(entry, callKfunc(0), { kind: 'symbol', reloc: 'kfunc', symbol: this.symbolName(entry, name, 'kfunc') });
  }

  /**
   * Define a subprogram: instructions emitted by `body` go into it. It is
   * laid out after the entry function, in declaration order, and must end
   * with exit. Labels inside belong to it; jumps cannot cross functions.
   */
  subprogram(name: string, body: (b: this) => void): this {
    const entry = this.subprogram;
    this.symbolName(entry, name, 'subprogram');
    if (this.functions.some((fn) => fn.name === name)) this.fail(entry, `function '${name}' is defined twice`);
    const fn: FunctionDraft = { name, entry: false, insns: [] };
    this.functions.push(fn);
    const outer = this.current;
    this.current = fn;
    try {
      body(this);
    } finally {
      this.current = outer;
    }
    if (fn.insns.length === 0) this.fail(entry, `subprogram '${name}' has no instructions`);
    return this;
  }

  assemble(): AssembledProgram {
    return assemble(this.state(), this.assemble);
  }
}
