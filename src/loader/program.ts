/**
 * Loading an AssembledProgram: maps are created (or reused), relocations
 * resolved, the verifier consulted with a log that grows until it fits,
 * and the result wrapped in a handle that owns its descriptors.
 */
import { release } from 'node:os';
import { formatLlvmInstruction } from '../asm/disasm/llvm.js';
import { classify, decode, encode, EncodingError, type Instruction } from '../asm/instruction.js';
import { PseudoSrc, CallSrc, type PseudoSrcName } from '../asm/opcodes.js';
import { indexBySlot, slotOffsets, type AssembledProgram, type MapDefinition, type ProgramType, type Relocation } from '../asm/program.js';
import { objGetAttr, objPinAttr, progLoadAttr, progTestRunAttr, type ProgramBtfParams } from './attr.js';
import { loadProgramBtf, needsProgramBtf, type ProgramBtf } from './btf.js';
import { BpfError, parseVerifierLog, RelocationError, VerifierError } from './errors.js';
import { bpfObjectKind, programInfo, xlatedInstructions, type ProgramInfo } from './info.js';
import { BpfMap, createMap, MapHandle, PerCpuMap, pinHints, rawCodec, RingBufferMap, type AnyMap, type Codec } from './maps.js';
import { bpfCall, bpfFd, OwnedFd } from './syscall.js';
import { parseKernelRelease, type AttachTypeName } from './uapi.js';

export interface LoadOptions {
  /** Maps to use instead of creating them, by the name the program gives them; the caller keeps ownership. */
  readonly maps?: Readonly<Record<string, MapHandle>>;
  /** Attach type the verifier checks the program against (needed by some program types). */
  readonly expectedAttachType?: AttachTypeName;
  /**
   * Verifier log level. 0 (default) asks for no log unless the load fails,
   * then loads again with level 1 to explain why; 1 or 2 (verbose) keeps the
   * log of a successful load in `verifierLog`.
   */
  readonly logLevel?: 0 | 1 | 2;
  /** Initial log buffer size in bytes (at least 128); it grows while the kernel reports ENOSPC. */
  readonly logSize?: number;
}

const DEFAULT_LOG_SIZE = 64 * 1024;
/** Smallest log buffer kernels before Linux 6.4 accept (they refuse a smaller one with EINVAL). */
const MIN_LOG_SIZE = 128;
/** Largest log buffer the kernel accepts before Linux 6.4 (16 MiB - 1); later kernels keep the log's tail within it. */
const MAX_LOG_SIZE = (1 << 24) - 1;
/** The verifier returns EAGAIN when a signal interrupts it; loading again is the documented answer. */
const MAX_EAGAIN_RETRIES = 5;

export interface TestRunOptions {
  /** Run the program this many times; `duration` is the mean. */
  readonly repeat?: number;
  /** Input context (struct xdp_md, struct __sk_buff); the kernel's output context is returned as `ctx`. */
  readonly ctx?: Uint8Array;
  /** Room for the output packet beyond the input's length (for programs that grow it); 4096 by default. */
  readonly extraRoom?: number;
}

export interface TestRunResult {
  /** The program's return value (r0 on exit), unsigned 32-bit. */
  readonly retval: number;
  /** Mean nanoseconds per run. */
  readonly duration: number;
  /** The packet as the program left it. */
  readonly data: Uint8Array;
  readonly ctx?: Uint8Array;
}

/** A program in the kernel. Closing it closes the maps it created, not the ones passed in. */
export class Program {
  readonly #owned: OwnedFd;
  readonly #ownedMaps: readonly MapHandle[];
  readonly #info: ProgramInfo;

  constructor(
    owned: OwnedFd,
    readonly name: string,
    /** Maps by the name the program uses for them. */
    readonly maps: ReadonlyMap<string, AnyMap>,
    ownedMaps: readonly MapHandle[],
    /** The verifier log of the load when one was requested (logLevel 1 or 2). */
    readonly verifierLog: string,
  ) {
    this.#owned = owned;
    this.#ownedMaps = ownedMaps;
    this.#info = programInfo(owned.value);
  }

  get fd(): number {
    return this.#owned.value;
  }

  get id(): number {
    return this.#info.id;
  }

  /** The kernel's tag: 16 hex digits identifying the instructions. */
  get tag(): string {
    return this.#info.tag;
  }

  get closed(): boolean {
    return this.#owned.closed;
  }

  /** Fresh information from the kernel (run statistics change). */
  info(): ProgramInfo {
    return programInfo(this.fd);
  }

  /** The instructions as the kernel runs them, after verification and rewriting. */
  xlated(): Instruction[] {
    // Rewritten programs may use encodings private to the kernel, so they are not checked against RFC 9669.
    return decode(xlatedInstructions(this.fd), { validate: false });
  }

  /** Run the program once (or `repeat` times) on a packet with BPF_PROG_TEST_RUN. */
  testRun(packet: Uint8Array, options: TestRunOptions = {}): TestRunResult {
    const dataOut = new Uint8Array(packet.byteLength + (options.extraRoom ?? 4096));
    const ctxOut = options.ctx ? new Uint8Array(options.ctx.byteLength) : undefined;
    const request = progTestRunAttr({ progFd: this.fd, dataIn: packet, dataOut, ctxIn: options.ctx, ctxOut, repeat: options.repeat });
    bpfCall(request, {
      EINVAL: `the kernel refused to test-run ${this.name}: its type may not support test runs with this input (XDP and tc programs need at least a 14-byte Ethernet header; ctx must match the type's context struct)`,
      ENOSPC: `${this.name} produced a packet larger than the ${dataOut.byteLength}-byte output buffer: raise extraRoom`,
      ENOTSUPP: `programs of this type cannot be test-run`,
      EOPNOTSUPP: `programs of this type cannot be test-run`,
    });
    const dataLength = request.attr.readU32('data_size_out');
    const ctxLength = request.attr.readU32('ctx_size_out');
    return {
      retval: request.attr.readU32('retval'),
      duration: request.attr.readU32('duration'),
      data: dataOut.slice(0, dataLength),
      ...(ctxOut ? { ctx: ctxOut.slice(0, ctxLength) } : {}),
    };
  }

  /** Pin to a path in a bpf filesystem, so that the program outlives this process. */
  pin(path: string): void {
    bpfCall(objPinAttr(this.fd, path), pinHints(path));
  }

  /** The map the program calls `name`, seen through codecs for its keys and values (raw bytes when omitted). */
  map<K = Uint8Array, V = Uint8Array>(name: string, key?: Codec<K>, value?: Codec<V>): BpfMap<K, V> {
    const map = this.#mapNamed(name);
    if (!(map instanceof BpfMap)) throw new TypeError(`map ${name} is ${map.type}: use ${map instanceof PerCpuMap ? 'perCpuMap()' : 'ringBuffer()'}`);
    return map.withCodecs(key ?? rawCodec<K>(map.definition.keySize), value ?? rawCodec<V>(map.definition.valueSize));
  }

  /** A per-CPU map of the program; get() returns one value per possible CPU. */
  perCpuMap<K = Uint8Array, V = Uint8Array>(name: string, key?: Codec<K>, value?: Codec<V>): PerCpuMap<K, V> {
    const map = this.#mapNamed(name);
    if (!(map instanceof PerCpuMap)) throw new TypeError(`map ${name} is ${map.type}, not a per-CPU map`);
    return map.withCodecs(key ?? rawCodec<K>(map.definition.keySize), value ?? rawCodec<V>(map.definition.valueSize));
  }

  ringBuffer(name: string): RingBufferMap {
    const map = this.#mapNamed(name);
    if (!(map instanceof RingBufferMap)) throw new TypeError(`map ${name} is ${map.type}, not a ringbuf`);
    return map;
  }

  #mapNamed(name: string): AnyMap {
    const map = this.maps.get(name);
    if (!map) throw new RangeError(`program ${this.name} has no map ${name} (it has: ${[...this.maps.keys()].join(', ') || 'none'})`);
    return map;
  }

  close(): void {
    this.#owned.close();
    for (const map of this.#ownedMaps) map.close();
  }
}

/** What relocations need of each program-scope symbol. */
interface Symbols {
  readonly maps: ReadonlyMap<string, MapHandle>;
  readonly functionSlot: ReadonlyMap<string, number>;
}

function ldImm64Pseudo(insn: Instruction, pseudo: PseudoSrcName, imm: number, imm2: number): Instruction {
  return { ...insn, src: PseudoSrc[pseudo], imm, imm2 };
}

/**
 * Patch one relocated instruction. Map references get the map's fd; local
 * calls and function addresses are already pc-relative from the assembler,
 * so they are only checked.
 */
function relocate(program: AssembledProgram, insns: Instruction[], slots: readonly number[], relocation: Relocation, symbols: Symbols): void {
  const index = relocation.insn;
  const fail = (detail: string): never => {
    // Only on failure: reading the source map may build the program again to capture call sites (buildWithSourceMapOnDemand).
    throw new RelocationError(program.sourceMap[index], index, `${relocation.kind} relocation of ${relocation.symbol}: ${detail}`);
  };
  const insn = insns[index] ?? fail(`instruction ${index} does not exist (the program has ${insns.length})`);
  let form;
  try {
    form = classify(insn, slots[index]);
  } catch (error) {
    if (error instanceof EncodingError) return fail(error.message);
    throw error;
  }
  const relativeTarget = (): number => {
    const target = symbols.functionSlot.get(relocation.symbol) ?? fail(`no function named ${relocation.symbol}`);
    return target - (slots[index]! + 1);
  };

  switch (relocation.kind) {
    case 'map_fd':
    case 'map_value': {
      if (form.kind !== 'ld_imm64') return fail(`instruction ${index} is not a 64-bit immediate load`);
      const map = symbols.maps.get(relocation.symbol) ?? fail(`no map named ${relocation.symbol}`);
      if (relocation.kind === 'map_fd') {
        insns[index] = ldImm64Pseudo(insn, 'MAP_FD', map.fd, 0);
        return;
      }
      const offset = relocation.addend ?? 0;
      if (offset < 0 || offset >= map.definition.valueSize) fail(`offset ${offset} is outside the ${map.definition.valueSize}-byte value`);
      insns[index] = ldImm64Pseudo(insn, 'MAP_VALUE', map.fd, offset);
      return;
    }
    case 'call': {
      if (form.kind !== 'call' || insn.src !== CallSrc.LOCAL) return fail(`instruction ${index} is not a local call`);
      const expected = relativeTarget();
      if (insn.imm !== expected) fail(`imm is ${insn.imm}, but ${relocation.symbol} starts ${expected} slots after the call`);
      return;
    }
    case 'func_addr': {
      if (form.kind !== 'ld_imm64' || form.pseudo !== 'FUNC') return fail(`instruction ${index} is not a function-address load`);
      const expected = relativeTarget();
      if (insn.imm !== expected) fail(`imm is ${insn.imm}, but ${relocation.symbol} starts ${expected} slots after the load`);
      return;
    }
    case 'kfunc':
      return fail('kfunc calls must be resolved against kernel BTF, which this loader does not read');
  }
}

function sameShape(a: MapDefinition, b: MapDefinition): boolean {
  return a.type === b.type && a.keySize === b.keySize && a.valueSize === b.valueSize && a.maxEntries === b.maxEntries;
}

/** Create the program's maps, or take them from `provided`; on failure, close what was created. */
function openMaps(program: AssembledProgram, provided: Readonly<Record<string, MapHandle>>): { all: Map<string, AnyMap>; created: MapHandle[] } {
  const all = new Map<string, AnyMap>();
  const created: MapHandle[] = [];
  try {
    for (const def of program.maps) {
      const given = provided[def.name];
      if (given) {
        if (!sameShape(given.definition, def)) {
          throw new TypeError(
            `map ${def.name} passed to loadProgram is ${given.type} ${given.definition.keySize}/${given.definition.valueSize}/${given.definition.maxEntries}, ` +
              `but ${program.name} declares ${def.type} ${def.keySize}/${def.valueSize}/${def.maxEntries} (type/keySize/valueSize/maxEntries)`,
          );
        }
        all.set(def.name, given as AnyMap);
        continue;
      }
      const map = createMap(def);
      created.push(map);
      all.set(def.name, map);
    }
  } catch (error) {
    for (const map of created) map.close();
    throw error;
  }
  return { all, created };
}

/** LINUX_VERSION_CODE of the running kernel: kprobe programs had to carry it before Linux 5.0. */
export function kernelVersionCode(): number {
  const [major, minor, patch] = parseKernelRelease(release());
  return (major << 16) + (minor << 8) + Math.min(patch, 255);
}

function logText(buffer: Uint8Array): string {
  const end = buffer.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buffer : buffer.subarray(0, end));
}

interface LoadAttempt {
  readonly type: ProgramType;
  readonly name: string;
  readonly license: string;
  readonly bytes: Uint8Array;
  readonly expectedAttachType?: AttachTypeName;
  readonly btf?: ProgramBtfParams;
}

/** BPF_PROG_LOAD, retried: with a log when a silent load fails, with a larger log on ENOSPC, again on EAGAIN. */
function loadWithLog(
  attempt: LoadAttempt,
  options: LoadOptions,
  onVerifierLog: (errno: number, log: string) => Error,
): { owned: OwnedFd; log: string } {
  let logLevel: number = options.logLevel ?? 0;
  const requestedLogSize = Math.min(MAX_LOG_SIZE, Math.max(MIN_LOG_SIZE, options.logSize ?? DEFAULT_LOG_SIZE));
  let logSize = logLevel > 0 ? requestedLogSize : 0;
  let interrupted = 0;
  for (;;) {
    const log = new Uint8Array(logSize);
    const request = progLoadAttr({
      ...attempt,
      insns: attempt.bytes,
      kernVersion: attempt.type === 'kprobe' ? kernelVersionCode() : 0,
      logLevel,
      logBuffer: log,
    });
    try {
      const owned = bpfFd(request, `program ${attempt.name}`, {
        E2BIG: `${attempt.name} has ${attempt.bytes.byteLength / 8} instruction slots, more than the kernel accepts (4,096 unprivileged, 1,000,000 privileged)`,
        EINVAL: `the kernel rejected the attributes of ${attempt.name} (program type ${attempt.type}${attempt.expectedAttachType ? `, expected attach type ${attempt.expectedAttachType}` : ''}, license ${JSON.stringify(attempt.license)}) before verifying it`,
      });
      return { owned, log: logText(log) };
    } catch (error) {
      if (!(error instanceof BpfError)) throw error;
      if (error.code === 'EAGAIN' && interrupted++ < MAX_EAGAIN_RETRIES) continue;
      const text = logText(log);
      if (error.code === 'ENOSPC' && logSize > 0 && logSize < MAX_LOG_SIZE) {
        // Since Linux 6.4 the kernel reports the size the whole log needs.
        const needed = request.attr.readU32('log_true_size');
        logSize = Math.min(MAX_LOG_SIZE, Math.max(needed + 1, logSize * 4));
        continue;
      }
      if ((error.code === 'EACCES' || error.code === 'EINVAL') && logSize === 0) {
        logLevel = 1;
        logSize = requestedLogSize;
        continue;
      }
      if (text.length > 0) throw onVerifierLog(error.errno, text);
      throw error;
    }
  }
}

/**
 * Load an assembled program into the kernel: create its maps (or use those
 * in `options.maps`), resolve relocations, verify and load.
 */
export function loadProgram(program: AssembledProgram, options: LoadOptions = {}): Program {
  const insns = [...program.insns];
  const slots = slotOffsets(insns);
  const functionSlot = new Map(program.functions.map((fn) => [fn.name, slots[fn.insn]!]));
  const { all, created } = openMaps(program, options.maps ?? {});
  let btf: ProgramBtf | undefined;
  try {
    for (const relocation of program.relocations) relocate(program, insns, slots, relocation, { maps: all, functionSlot });
    btf = needsProgramBtf(program) ? loadProgramBtf(program) : undefined;
    const { owned, log } = loadWithLog(
      { type: program.type, name: program.name, license: program.license, bytes: encode(insns), expectedAttachType: options.expectedAttachType, btf: btf?.params },
      options,
      (errno, log) => verifierError(program, insns, errno, log),
    );
    try {
      return new Program(owned, program.name, all, created, log);
    } catch (error) {
      owned.close();
      throw error;
    }
  } catch (error) {
    for (const map of created) map.close();
    throw error;
  } finally {
    // The program holds its own reference to the BTF.
    btf?.fd.close();
  }
}

function verifierError(program: AssembledProgram, insns: readonly Instruction[], errno: number, log: string): VerifierError {
  const verdict = parseVerifierLog(log);
  if (verdict.slot === undefined) return new VerifierError(errno, log, verdict, undefined, undefined, program.name);
  const bySlot = indexBySlot(insns);
  // A slot inside an ld_imm64 (-1) belongs to the instruction that starts one slot earlier.
  const index = bySlot[verdict.slot] === -1 ? bySlot[verdict.slot - 1] : bySlot[verdict.slot];
  const insn = index === undefined ? undefined : insns[index];
  const described = insn ? { ...verdict, instruction: formatLlvmInstruction(insn) } : verdict;
  return new VerifierError(errno, log, described, index, index === undefined ? undefined : program.sourceMap[index], program.name);
}

/** Open a program pinned in a bpf filesystem. It has no maps by name: those live in the assembled program. */
export function openPinnedProgram(path: string): Program {
  const owned = bpfFd(objGetAttr(path), `program pinned at ${path}`, {
    ENOENT: `nothing is pinned at ${path}`,
    EPERM: `${path} is not inside a bpf filesystem`,
    EINVAL: `${path} is not a pinned bpf object`,
  });
  try {
    const kind = bpfObjectKind(owned.value);
    if (kind !== 'program') throw new TypeError(`${path} holds a bpf ${kind}, not a program`);
    return new Program(owned, programInfo(owned.value).name, new Map(), [], '');
  } catch (error) {
    owned.close();
    throw error;
  }
}
