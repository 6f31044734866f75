import { alu } from '../alu.js';
import { exit } from '../func.js';
import { gotol, ja, jcond } from '../jump.js';
import { JmpOp, type CondJmpOpName } from '../opcodes.js';
import { AluBuilder, type SourceFor } from './alu.js';
import type { Entry } from './callsite.js';
import { r0, type AnyReg, type AnyReg64 } from './registers.js';

/**
 * Labels, jumps and exit. Jumps name their target label; assemble()
 * resolves it, forward or backward, within the same function. The
 * destination's view selects JMP (`jeq(r1, ...)`, 64-bit compare) or JMP32
 * (`jeq(w1, ...)`, 32-bit compare).
 */
export class BranchBuilder extends AluBuilder {
  private labelSerial = 0;

  /** Mark the next instruction emitted in the current function. */
  label(name: string): this {
    const entry = this.label;
    this.symbolName(entry, name, 'label');
    const previous = this.labels.get(name);
    if (previous) this.fail(entry, `label '${name}' is defined twice (first in function '${previous.fn.name}')`);
    this.labels.set(name, { name, fn: this.current, index: this.current.insns.length, site: this.site(entry) });
    return this;
  }

  /** A label name not used yet, for building blocks that need private jump targets. */
  uniqueLabel(prefix: string): string {
    this.symbolName(this.uniqueLabel, prefix, 'label prefix');
    let name: string;
    do name = `${prefix}.${this.labelSerial++}`;
    while (this.labels.has(name));
    return name;
  }

  /** `if dst == src goto target` */
  jeq<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jeq, 'JEQ', dst, src, target);
  }
  /** `if dst != src goto target` */
  jne<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jne, 'JNE', dst, src, target);
  }
  /** `if dst > src goto target`, unsigned. */
  jgt<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jgt, 'JGT', dst, src, target);
  }
  /** `if dst >= src goto target`, unsigned. */
  jge<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jge, 'JGE', dst, src, target);
  }
  /** `if dst < src goto target`, unsigned. */
  jlt<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jlt, 'JLT', dst, src, target);
  }
  /** `if dst <= src goto target`, unsigned. */
  jle<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jle, 'JLE', dst, src, target);
  }
  /** `if dst s> src goto target` */
  jsgt<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jsgt, 'JSGT', dst, src, target);
  }
  /** `if dst s>= src goto target` */
  jsge<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jsge, 'JSGE', dst, src, target);
  }
  /** `if dst s< src goto target` */
  jslt<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jslt, 'JSLT', dst, src, target);
  }
  /** `if dst s<= src goto target` */
  jsle<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jsle, 'JSLE', dst, src, target);
  }
  /** `if dst & src goto target` */
  jset<D extends AnyReg>(dst: D, src: SourceFor<D>, target: string): this {
    return this.conditional(this.jset, 'JSET', dst, src, target);
  }

  /**
   * `goto target`. A target beyond the 16-bit offset becomes `gotol` (same
   * size, ISA v4, Linux 6.6+) when assembled.
   */
  ja(target: string): this {
    return this.push(this.ja, ja(0), { kind: 'jump', label: this.symbolName(this.ja, target, 'jump target'), form: 'ja' });
  }

  /** `gotol target`: unconditional jump with a 32-bit offset (ISA v4). */
  gotol(target: string): this {
    return this.push(this.gotol, gotol(0), { kind: 'jump', label: this.symbolName(this.gotol, target, 'jump target'), form: 'gotol' });
  }

  exit(): this {
    return this.push(this.exit, exit());
  }

  /** `r0 = value; exit`: return from the program or subprogram. */
  ret(value: AnyReg64 | number): this {
    const entry = this.ret;
    const source = this.operand(entry, r0, value, 'return value');
    const site = this.site(entry);
    return this.push(entry, alu('MOV', true, r0.index, source), undefined, site).push(entry, exit(), undefined, site);
  }

  private conditional(entry: Entry, op: CondJmpOpName, dst: AnyReg, src: unknown, target: string): this {
    const d = this.register(entry, dst, 'compared register');
    const s = this.operand(entry, d, src, JmpOp[op].mnemonic);
    const label = this.symbolName(entry, target, 'jump target');
    return this.push(entry, jcond(op, d.bits === 64, d.index, s, 0), { kind: 'jump', label, form: 'cond' });
  }
}
