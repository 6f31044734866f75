import { readFileSync, writeFileSync } from 'node:fs';
import { UsageError } from './usage.js';

/** What a failed file operation's errno means, in words, or the error's own message. */
function fileProblem(error: unknown, missing: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? missing : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
}

/** Read a file named on the command line, or stdin for `-`, turning I/O errors into one-line messages. */
export function readInput(path: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (error) {
    throw new UsageError(`${path === '-' ? '<stdin>' : path}: ${fileProblem(error, 'no such file')}`);
  }
}

export function writeOutput(path: string | undefined, data: string | Uint8Array): void {
  if (path === undefined || path === '-') {
    process.stdout.write(data);
    return;
  }
  try {
    writeFileSync(path, data);
  } catch (error) {
    throw new UsageError(`${path}: cannot write: ${fileProblem(error, 'no such directory')}`);
  }
}
