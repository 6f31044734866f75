/**
 * Loading a built program for a CLI command: the program is closed when the
 * command is done with it, and what stops bpfgen from loading or running it
 * (no shim, no privileges, an old kernel, the verifier) is one line on
 * stderr and exit code 1 rather than an internal error.
 */
import type { AssembledProgram } from '../asm/program.js';
import { BpfError, FeatureError, loadProgram, NativeUnavailableError, RelocationError, type Program } from '../loader/index.js';

function isKernelRefusal(error: unknown): error is Error {
  // BpfError covers PermissionError and VerifierError.
  return error instanceof NativeUnavailableError || error instanceof BpfError || error instanceof FeatureError || error instanceof RelocationError;
}

/** Load `assembled`, hand it to `use`, close it; returns `use`'s exit code, or 1 after printing why the kernel said no. */
export function withLoadedProgram(command: string, assembled: AssembledProgram, use: (program: Program) => number): number {
  let program: Program;
  try {
    program = loadProgram(assembled);
  } catch (error) {
    if (!isKernelRefusal(error)) throw error;
    process.stderr.write(`bpfgen: ${command}: cannot load ${assembled.name}: ${error.message}\n`);
    return 1;
  }
  try {
    return use(program);
  } catch (error) {
    if (!isKernelRefusal(error)) throw error;
    process.stderr.write(`bpfgen: ${command}: ${error.message}\n`);
    return 1;
  } finally {
    program.close();
  }
}
