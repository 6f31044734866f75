/**
 * Shared helpers of the loader tests: whether this machine can run them,
 * hand-assembled programs, packets, and a private bpf filesystem.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { compiledPackage } from '../support/compiled.js';
import { encode, type Instruction } from '../../src/asm/instruction.js';
import type { AssembledProgram, MapDefinition, ProgramType, Relocation, SourceLocation } from '../../src/asm/program.js';
import { nativeUnavailableReason } from '../../src/loader/native.js';
import { loadProgram } from '../../src/loader/program.js';
import { VerifierError } from '../../src/loader/errors.js';

function bpfUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `bpf() needs Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'the loader tests need root';
  return nativeUnavailableReason();
}

/** `describe` when this process can call bpf(), else `describe.skip` with the reason printed. */
export function describeWithBpf(name: string, body: () => void): void {
  const reason = bpfUnavailableReason();
  if (reason) {
    console.warn(`skipping "${name}": ${reason}`);
    describe.skip(name, body);
  } else {
    describe(name, body);
  }
}

export interface ProgramParts {
  readonly type?: ProgramType;
  readonly license?: string;
  readonly relocations?: Relocation[];
  readonly maps?: MapDefinition[];
  readonly functions?: AssembledProgram['functions'];
  readonly sourceMap?: (SourceLocation | undefined)[];
}

/** An AssembledProgram put together by hand, as the DSL would produce it. */
export function assembled(name: string, insns: Instruction[], parts: ProgramParts = {}): AssembledProgram {
  return {
    name,
    type: parts.type ?? 'xdp',
    license: parts.license ?? 'GPL',
    insns,
    bytes: encode(insns),
    relocations: parts.relocations ?? [],
    functions: parts.functions ?? [{ name, insn: 0, length: insns.length, entry: true }],
    labels: [],
    maps: parts.maps ?? [],
    sourceMap: parts.sourceMap ?? insns.map(() => undefined),
  };
}

/**
 * Whether the kernel runs gotol (JMP32 JA, its offset in imm) as RFC 9669
 * says, told apart from the `ja +offset` that kernels before it make of the
 * same opcode. Linux 6.6 added it, and Debian's 6.1 kernels have it too
 * (a stable backport), so the release cannot tell. The words are written
 * out by hand: r0 = 0; if r0 != 0 goto +1; gotol +1; exit; r0 = 2; exit.
 */
export function kernelRunsGotol(): boolean {
  const insns: Instruction[] = [
    { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
    { code: 0x55, dst: 0, src: 0, off: 1, imm: 0 },
    { code: 0x06, dst: 0, src: 0, off: 0, imm: 1 },
    { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
    { code: 0xb7, dst: 0, src: 0, off: 0, imm: 2 },
    { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
  ];
  let program;
  try {
    program = loadProgram(assembled('gotol', insns));
  } catch (error) {
    if (error instanceof VerifierError) return false;
    throw error;
  }
  try {
    return program.testRun(udpFrame()).retval === 2;
  } finally {
    program.close();
  }
}

/** A minimal Ethernet + IPv4 + UDP frame, 60 bytes: what XDP and tc test runs accept. */
export function udpFrame(payload = 'bpfgen'): Uint8Array {
  const frame = new Uint8Array(60);
  frame.set([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00], 0);
  frame.set([0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1], 14);
  frame.set([0x30, 0x39, 0x00, 0x35, 0, 26, 0, 0], 34);
  frame.set(new TextEncoder().encode(payload), 42);
  return frame;
}

/** Run a bpftool command and parse its JSON output. */
export function bpftool(...args: string[]): unknown {
  return JSON.parse(execFileSync('bpftool', ['--json', ...args], { encoding: 'utf8', timeout: 30_000 }));
}

/** Number of open file descriptors of this process. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A bpf filesystem mounted on a fresh temporary directory; `dispose` unmounts and removes it. */
export function privateBpffs(): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'bpfgen-bpffs-'));
  execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { timeout: 10_000 });
  return {
    dir,
    dispose() {
      execFileSync('umount', [dir], { timeout: 10_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}


/**
 * The loader compiled to JavaScript, for child processes that must run
 * without vitest (as another user, or with --expose-gc): scripts written
 * into `dir` import it from `./dist/loader/index.js`.
 */
export function compiledLoader(): { dir: string; dispose(): void } {
  return compiledPackage();
}
