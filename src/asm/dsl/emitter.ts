import { DslError } from '../errors.js';
import { slotCount, type Instruction } from '../instruction.js';
import { MAX_PROGRAM_INSNS } from '../opcodes.js';
import type { Operand } from '../operand.js';
import type { MapDefinition, ProgramType } from '../program.js';
import { callerLocation, captureSite, type CapturedSite, type Entry } from './callsite.js';
import { immediateProblem, toImm32 } from './operands.js';
import { isRegister, type AnyReg, type WritableReg } from './registers.js';

export interface BuilderOptions {
  /** Kernel object name: up to 15 characters from [A-Za-z0-9_.]. */
  readonly name: string;
  readonly type: ProgramType;
  readonly license: string;
  readonly maps?: readonly MapDefinition[];
  /**
   * Remember each instruction's call site for error messages and the source
   * map (default true). Costs a few µs per instruction; errors found while
   * building name the call site either way.
   */
  readonly captureSites?: boolean;
}

/** What assemble() still has to fill in for an instruction. */
export type Fixup =
  | { readonly kind: 'jump'; readonly label: string; readonly form: 'cond' | 'ja' | 'gotol' }
  | { readonly kind: 'local'; readonly function: string; readonly reloc: 'call' | 'func_addr' }
  | { readonly kind: 'symbol'; readonly reloc: 'map_fd' | 'map_value' | 'kfunc'; readonly symbol: string; readonly addend?: number };

export interface DraftInsn {
  readonly insn: Instruction;
  readonly site: CapturedSite | undefined;
  readonly fixup?: Fixup;
}

export interface FunctionDraft {
  readonly name: string;
  readonly entry: boolean;
  readonly insns: DraftInsn[];
}

export interface LabelDraft {
  readonly name: string;
  readonly fn: FunctionDraft;
  /** Index in `fn.insns` of the instruction the label marks. */
  readonly index: number;
  readonly site: CapturedSite | undefined;
}

/** Everything assemble() reads. */
export interface BuilderState {
  readonly options: BuilderOptions;
  readonly functions: readonly FunctionDraft[];
  readonly labels: ReadonlyMap<string, LabelDraft>;
  readonly maps: ReadonlyMap<string, MapDefinition>;
}

/** Kernel object names (programs, maps): BPF_OBJ_NAME_LEN is 16 including the NUL. */
const OBJECT_NAME = /^[A-Za-z0-9_.]{1,15}$/;
/** Labels and function names, as they appear in disassembly. */
const SYMBOL_NAME = /^[A-Za-z_.][A-Za-z0-9_.$]*$/;

/**
 * The state of a program under construction and the checks shared by all
 * instruction methods. Every public DSL method passes itself as `entry`, so
 * the captured call site is the user's line, not a line of the DSL.
 */
export class Emitter {
  protected readonly options: BuilderOptions;
  protected readonly functions: FunctionDraft[] = [];
  protected current: FunctionDraft;
  protected readonly labels = new Map<string, LabelDraft>();
  protected readonly maps = new Map<string, MapDefinition>();
  private readonly captureSites: boolean;
  private slots = 0;

  constructor(options: BuilderOptions) {
    const entry = new.target;
    if (typeof options.name !== 'string' || !OBJECT_NAME.test(options.name)) {
      throw new DslError(callerLocation(entry), `program name '${String(options.name)}' must be 1-15 characters from [A-Za-z0-9_.] (BPF_OBJ_NAME_LEN)`);
    }
    if (typeof options.license !== 'string' || options.license === '') {
      throw new DslError(callerLocation(entry), 'license must be a non-empty string such as "GPL"');
    }
    this.options = options;
    this.captureSites = options.captureSites !== false;
    this.current = { name: options.name, entry: true, insns: [] };
    this.functions.push(this.current);
    for (const map of options.maps ?? []) this.addMap(entry, map);
  }

  protected state(): BuilderState {
    return { options: this.options, functions: this.functions, labels: this.labels, maps: this.maps };
  }

  /** Append an instruction to the current function; `site` lets a method that emits several capture once. */
  protected push(entry: Entry, insn: Instruction, fixup?: Fixup, site = this.site(entry)): this {
    this.slots += slotCount(insn);
    if (this.slots > MAX_PROGRAM_INSNS) {
      this.fail(entry, `program exceeds the kernel's limit of ${MAX_PROGRAM_INSNS} instructions (BPF_COMPLEXITY_LIMIT_INSNS)`);
    }
    this.current.insns.push(fixup ? { insn, site, fixup } : { insn, site });
    return this;
  }

  protected fail(entry: Entry, detail: string): never {
    throw new DslError(callerLocation(entry), detail);
  }

  /** The call site of `entry`, for instructions and declarations, unless capture is off. */
  protected site(entry: Entry): CapturedSite | undefined {
    return this.captureSites ? captureSite(entry) : undefined;
  }

  protected register(entry: Entry, value: unknown, role: string): AnyReg {
    if (!isRegister(value)) this.fail(entry, `${role} must be a register (r0-r10 or w0-w10), got ${String(value)}`);
    return value;
  }

  protected destination(entry: Entry, value: unknown, role = 'destination'): WritableReg {
    const register = this.register(entry, value, role);
    if (!register.writable) this.fail(entry, `${role} ${register} is the read-only frame pointer`);
    return register as WritableReg;
  }

  /** A 64-bit register holding an address. */
  protected pointer(entry: Entry, value: unknown, role: string): AnyReg {
    const register = this.register(entry, value, role);
    if (register.bits !== 64) this.fail(entry, `${role} ${register} holds an address and must be used in its 64-bit form (r${register.index})`);
    return register;
  }

  /** A register or immediate operand of an instruction whose other operand is `dst`. */
  protected operand(entry: Entry, dst: AnyReg, src: unknown, what: string): Operand {
    if (isRegister(src)) {
      if (src.bits !== dst.bits) {
        this.fail(entry, `${what} mixes ${dst} (${dst.bits}-bit) and ${src} (${src.bits}-bit); use r${src.index} and r${dst.index}, or w${src.index} and w${dst.index}`);
      }
      return { reg: src.index };
    }
    if (typeof src === 'number') return { imm: this.immediate(entry, src, dst.bits) };
    return this.fail(entry, `${what}: source must be a register or a number, got ${String(src)}`);
  }

  protected immediate(entry: Entry, value: unknown, bits: 32 | 64): number {
    const problem = immediateProblem(value, bits);
    if (problem) this.fail(entry, problem);
    return toImm32(value as number);
  }

  protected symbolName(entry: Entry, value: unknown, what: string): string {
    if (typeof value !== 'string' || !SYMBOL_NAME.test(value)) {
      this.fail(entry, `${what} name '${String(value)}' must start with a letter, '_' or '.' and contain only [A-Za-z0-9_.$]`);
    }
    return value;
  }

  protected addMap(entry: Entry, map: MapDefinition): void {
    if (typeof map?.name !== 'string' || !OBJECT_NAME.test(map.name)) {
      this.fail(entry, `map name '${String(map?.name)}' must be 1-15 characters from [A-Za-z0-9_.] (BPF_OBJ_NAME_LEN)`);
    }
    if (this.maps.has(map.name)) this.fail(entry, `map '${map.name}' is declared twice`);
    for (const field of ['keySize', 'valueSize', 'maxEntries'] as const) {
      const value = map[field];
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) this.fail(entry, `map '${map.name}': ${field} ${value} is not a 32-bit unsigned integer`);
    }
    this.maps.set(map.name, map);
  }
}
