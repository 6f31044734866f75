/**
 * The bare BPF_PROG_LOAD that bpfgen's loader makes, captured at the shim
 * so that it can be replayed: the kernel's share of loading, without
 * bpfgen's building, relocation and encoding.
 */
import type { AssembledProgram } from '../src/asm/program.js';
import type { PointerPatch } from '../src/loader/attr.js';
import { loadProgram, native, type LoadOptions } from '../src/loader/index.js';
import { BpfCommand } from '../src/loader/uapi.js';

const PROG_LOAD = BpfCommand.PROG_LOAD.value;

export interface ProgLoadRequest {
  readonly attr: Uint8Array;
  readonly pointers: readonly PointerPatch[];
}

/** The PROG_LOAD request bpfgen makes for `program`, captured from one load through bpfgen (the program is closed again). */
export function captureProgLoad(program: AssembledProgram, options: LoadOptions = {}): ProgLoadRequest {
  const shim = native();
  const original = shim.bpf;
  let captured: ProgLoadRequest | undefined;
  shim.bpf = (cmd, attr, pointers) => {
    if (cmd === PROG_LOAD) captured = { attr, pointers: pointers ?? [] };
    return original.call(shim, cmd, attr, pointers);
  };
  try {
    loadProgram(program, options).close();
  } finally {
    shim.bpf = original;
  }
  if (!captured) throw new Error(`loading ${program.name} made no PROG_LOAD call`);
  return captured;
}

/** Replay a captured request: the new program's fd, which the caller closes. */
export function replayProgLoad(request: ProgLoadRequest): number {
  return native().bpf(PROG_LOAD, request.attr, request.pointers);
}
