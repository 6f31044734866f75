/**
 * One matrix run at a time per checkout: runs share the cache's compiled
 * tree and results directories.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE } from './paths.js';
import { StepError } from './process.js';

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Take the cache for this process; returns the release. A lock left by a run that died is taken over. */
export function lockCache(): () => void {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, 'lock');
  try {
    writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
  } catch {
    const holder = Number(readFileSync(path, 'utf8'));
    if (holder > 0 && running(holder)) throw new StepError(`another npm run test:vm (PID ${holder}) is using ${CACHE}; wait for it to finish`);
    writeFileSync(path, `${process.pid}\n`);
  }
  return () => rmSync(path, { force: true });
}
