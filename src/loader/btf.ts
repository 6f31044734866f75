/**
 * BTF for BPF_PROG_LOAD. The verifier insists on function info when a
 * program loads the address of one of its functions (a callback for
 * bpf_loop, for_each_map_elem or a timer): it has to see that the callback
 * is a static function. For such programs the loader describes every
 * function in BTF, adds the source lines when they are known (so that the
 * verifier log and `bpftool prog dump xlated` show them), loads the BTF and
 * passes the records with the program.
 */
import { ByteWriter } from '../asm/btf/bytes.js';
import { writeFuncInfo, writeLineInfo, type LineInfo } from '../asm/btf/ext.js';
import { addFunctionType } from '../asm/btf/program.js';
import { BtfBuilder } from '../asm/btf/writer.js';
import { lineRecords, sourceFromDisk, sourceLineText } from '../asm/elf/line-info.js';
import { LD_IMM64_CODE, PseudoSrc } from '../asm/opcodes.js';
import { slotOffsets, type AssembledProgram } from '../asm/program.js';
import { btfLoadAttr, type ProgramBtfParams } from './attr.js';
import { BpfError } from './errors.js';
import { bpfFd, type OwnedFd } from './syscall.js';

/** Whether the kernel needs BTF to load `program`: it loads the address of a function. */
export function needsProgramBtf(program: AssembledProgram): boolean {
  return program.insns.some((insn) => insn.code === LD_IMM64_CODE && insn.src === PseudoSrc.FUNC);
}

/** Loaded BTF and the PROG_LOAD records that refer to it; close `fd` once the program is loaded. */
export interface ProgramBtf {
  readonly fd: OwnedFd;
  readonly params: ProgramBtfParams;
}

const LOG_SIZE = 64 * 1024;

/** Describe the program's functions (and lines) in BTF and load it into the kernel. */
export function loadProgramBtf(program: AssembledProgram): ProgramBtf {
  const btf = new BtfBuilder();
  const slots = slotOffsets(program.insns);
  const functions = program.functions.length > 0 ? [...program.functions].sort((a, b) => a.insn - b.insn) : [{ name: program.name, insn: 0, length: program.insns.length, entry: true }];
  const funcInfo = new ByteWriter();
  for (const fn of functions) writeFuncInfo(funcInfo, { insnOffset: slots[fn.insn]!, typeId: addFunctionType(btf, fn.name, fn.entry, program.type) });

  // The kernel takes line info whole or not at all: it needs a record at the start of every function.
  const text = sourceLineText(sourceFromDisk());
  const perFunction = functions.map((fn) => lineRecords(program.sourceMap, fn.insn, fn.insn + fn.length, (index) => slots[index]!, text));
  const lineInfo = new ByteWriter();
  if (perFunction.every((records): records is LineInfo[] => records !== undefined)) {
    for (const record of perFunction.flat()) writeLineInfo(lineInfo, record, btf.strings);
  }

  const bytes = btf.encode();
  const log = new Uint8Array(LOG_SIZE);
  let fd: OwnedFd;
  try {
    fd = bpfFd(btfLoadAttr(bytes, log), `BTF of program ${program.name}`);
  } catch (error) {
    if (!(error instanceof BpfError) || error.code !== 'EINVAL') throw error;
    const end = log.indexOf(0);
    const reason = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end)).trim().split('\n').pop();
    throw new BpfError(error.command, error.errno, error.explanation, `the kernel refused the BTF describing the functions of ${program.name}: ${reason || error.message}`);
  }
  return { fd, params: { btfFd: fd.value, funcInfo: funcInfo.finish(), lineInfo: lineInfo.finish() } };
}
