/**
 * The CLI and the netns worker compiled to JavaScript in a temporary
 * directory, for processes started inside a network namespace (which must
 * be plain node). Types are checked by the typecheck, not here (--noCheck),
 * so that this compiles while other work in the tree is half done.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Netns, NetnsProcess } from '../support/netns.js';
import type { WorkerRequest } from './netns-worker.js';

const repoRoot = join(import.meta.dirname, '..', '..');

export interface CompiledTree {
  readonly dir: string;
  /** The CLI's main.js. */
  readonly cli: string;
  readonly worker: string;
  dispose(): void;
}

export function compileTree(): CompiledTree {
  const dir = mkdtempSync(join(tmpdir(), `bpfgen-dnsfwd-${process.pid}-`));
  try {
    execFileSync(
      join(repoRoot, 'node_modules', '.bin', 'tsc'),
      [
        ...['--noCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node'],
        ...['--rootDir', repoRoot, '--outDir', dir],
        join(repoRoot, 'src', 'cli', 'main.ts'),
        join(repoRoot, 'test', 'dns-forward', 'netns-worker.ts'),
      ],
      { timeout: 120_000 },
    );
    copyFileSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
    // native.ts finds the addon two levels above its own file (dir/src/loader → dir/build).
    symlinkSync(join(repoRoot, 'build'), join(dir, 'build'));
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
    chmodSync(dir, 0o755);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    cli: join(dir, 'src', 'cli', 'main.js'),
    worker: join(dir, 'test', 'dns-forward', 'netns-worker.js'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: { readonly name: string; readonly message: string };
}

/** A worker's refusal, with the name of the error it threw. */
export class WorkerError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message);
    this.name = 'WorkerError';
  }
}

const REQUEST_TIMEOUT_MS = 60_000;

/** The test side of netns-worker.ts. */
export class NetnsWorker {
  #next = 1;
  readonly #pending = new Map<number, (reply: Reply) => void>();

  private constructor(readonly process: NetnsProcess) {
    process.child.on('message', (reply: Reply) => this.#pending.get(reply.id)?.(reply));
  }

  static async start(netns: Netns, tree: CompiledTree): Promise<NetnsWorker> {
    const started = netns.start(process.execPath, [tree.worker], { ipc: true });
    const worker = new NetnsWorker(started);
    await worker.#await(0, 'worker start');
    return worker;
  }

  #await(id: number, what: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${what}: no reply from the worker within ${REQUEST_TIMEOUT_MS} ms; stderr: ${this.process.stderr}`));
      }, REQUEST_TIMEOUT_MS);
      void this.process.exited.then(({ code, signal }) => reject(new Error(`${what}: the worker exited (${signal ?? code}); stderr: ${this.process.stderr}`)));
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        if (reply.ok) resolve(reply.value);
        else reject(new WorkerError(reply.error!.name, reply.error!.message));
      });
    });
  }

  request<T = unknown>(request: WorkerRequest): Promise<T> {
    const id = this.#next++;
    const reply = this.#await(id, request.op);
    this.process.child.send({ id, ...request });
    return reply as Promise<T>;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
