import { DslError } from '../errors.js';
import { exit } from '../func.js';
import { classify, encode, EncodingError, slotCount, type Instruction } from '../instruction.js';
import { gotol, ja } from '../jump.js';
import type { AssembledProgram, FunctionSymbol, LabelSymbol, Relocation, SourceLocation } from '../program.js';
import { callerLocation, locate, type CapturedSite, type Entry } from './callsite.js';
import type { BuilderState, DraftInsn, FunctionDraft } from './emitter.js';

const EXIT_CODE = exit().code;
const JA_CODE = ja(0).code;
const GOTOL_CODE = gotol(0).code;

interface Placed {
  readonly draft: DraftInsn;
  readonly fn: FunctionDraft;
}

/**
 * Lay out the entry function followed by the subprograms in declaration
 * order, resolve labels and local calls to relative slot offsets, and
 * collect relocations. `entry` is the public assemble method: errors whose
 * instruction has no captured site name the assemble() call instead.
 */
export function assemble(state: BuilderState, entry: Entry): AssembledProgram {
  const fail = (site: CapturedSite | undefined, detail: string, index?: number): never => {
    const at = locate(site);
    if (at) throw new DslError(at, detail);
    const where = index === undefined ? '' : ` (instruction ${index}; build with captureSites for its line)`;
    throw new DslError(callerLocation(entry), detail + where);
  };

  const main = state.functions[0]!;
  if (main.insns.length === 0) fail(undefined, `program '${main.name}' is empty`);

  const placed: Placed[] = [];
  const start = new Map<string, number>();
  for (const fn of state.functions) {
    start.set(fn.name, placed.length);
    for (const draft of fn.insns) placed.push({ draft, fn });
    const last = fn.insns[fn.insns.length - 1]!;
    if (![EXIT_CODE, JA_CODE, GOTOL_CODE].includes(last.insn.code)) {
      fail(last.site, `function '${fn.name}' can fall off its end: its last instruction must be exit or an unconditional jump`, placed.length - 1);
    }
  }

  const slots: number[] = [];
  let slot = 0;
  for (const p of placed) {
    slots.push(slot);
    slot += slotCount(p.draft.insn);
  }
  slots.push(slot);

  const labels: LabelSymbol[] = [];
  const labelIndex = new Map<string, number>();
  for (const label of state.labels.values()) {
    if (label.index >= label.fn.insns.length) {
      fail(label.site, `label '${label.name}' marks no instruction: nothing follows it in function '${label.fn.name}'`);
    }
    const index = start.get(label.fn.name)! + label.index;
    labelIndex.set(label.name, index);
    labels.push({ name: label.name, insn: index });
  }
  labels.sort((a, b) => a.insn - b.insn);

  const relocations: Relocation[] = [];
  const insns: Instruction[] = placed.map(({ draft, fn }, index) => {
    const fixup = draft.fixup;
    if (!fixup) return draft.insn;
    if (fixup.kind === 'symbol') {
      relocations.push(fixup.addend === undefined ? { insn: index, kind: fixup.reloc, symbol: fixup.symbol } : { insn: index, kind: fixup.reloc, symbol: fixup.symbol, addend: fixup.addend });
      return draft.insn;
    }
    if (fixup.kind === 'local') {
      const target = start.get(fixup.function);
      if (target === undefined) {
        const known = state.functions.slice(1).map((f) => f.name);
        return fail(draft.site, `subprogram '${fixup.function}' is not declared${known.length ? ` (declared: ${known.join(', ')})` : ''}`, index);
      }
      relocations.push({ insn: index, kind: fixup.reloc, symbol: fixup.function });
      // Kernel and libbpf rule for calls and ld_imm64 of a function alike: target = slot + imm + 1.
      return { ...draft.insn, imm: slots[target]! - slots[index]! - 1 };
    }
    const target = labelIndex.get(fixup.label);
    if (target === undefined) return fail(draft.site, `label '${fixup.label}' is not defined`, index);
    const targetFn = placed[target]!.fn;
    if (targetFn !== fn) {
      return fail(draft.site, `jump from function '${fn.name}' to label '${fixup.label}' in function '${targetFn.name}': jumps cannot leave their function`, index);
    }
    const relative = slots[target]! - slots[index + 1]!;
    const fits16 = relative >= -32768 && relative <= 32767;
    if (fixup.form === 'gotol') return gotol(relative);
    if (fixup.form === 'ja') return fits16 ? ja(relative) : gotol(relative);
    if (!fits16) {
      return fail(
        draft.site,
        `conditional jump to '${fixup.label}' is ${relative} slots away, beyond the 16-bit offset (-32768..32767); ` +
          'invert the condition to jump over a ja/gotol to the label',
        index,
      );
    }
    return { ...draft.insn, off: relative };
  });

  insns.forEach((insn, index) => {
    try {
      classify(insn, slots[index]);
    } catch (error) {
      if (error instanceof EncodingError) fail(placed[index]!.draft.site, `invalid instruction: ${error.message}`, index);
      throw error;
    }
  });

  const functions: FunctionSymbol[] = state.functions.map((fn) => ({
    name: fn.name,
    insn: start.get(fn.name)!,
    length: fn.insns.length,
    entry: fn.entry,
  }));

  const sites = placed.map((p) => p.draft.site);
  let sourceMap: readonly (SourceLocation | undefined)[] | undefined;
  return {
    name: state.options.name,
    type: state.options.type,
    license: state.options.license,
    insns,
    bytes: encode(insns),
    relocations,
    functions,
    labels,
    maps: [...state.maps.values()],
    // Formatting call sites costs far more than capturing them, so it waits for the first read.
    // An own enumerable getter, so that spreading the program still carries the source map.
    get sourceMap() {
      sourceMap ??= sites.map((site) => locate(site));
      return sourceMap;
    },
  };
}
