import { readFileSync, writeFileSync } from 'node:fs';
import { UsageError } from './usage.js';

/** Read a file named on the command line, or stdin for `-`, turning I/O errors into one-line messages. */
export function readInput(path: string): Buffer {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UsageError(`${path === '-' ? '<stdin>' : path}: ${why}`);
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
    throw new UsageError(`${path}: cannot write: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
