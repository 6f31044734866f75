/**
 * The CLI and the netns worker for processes started inside a network
 * namespace (which must be plain node): the test run's one compilation of
 * bpfgen (test/support/compiled.ts) and netns-worker.mjs, which imports it.
 */
import { join } from 'node:path';
import { compiledPackage } from '../support/compiled.js';
import type { Netns, NetnsProcess } from '../support/netns.js';
import type { WorkerRequest } from './worker-protocol.js';

export interface CompiledTree {
  /** A private directory of the test's, which holds the compiled package. */
  readonly dir: string;
  /** The CLI's main.js. */
  readonly cli: string;
  /** The worker and its argument, the compiled package's dist/. */
  readonly worker: readonly [string, string];
  dispose(): void;
}

export function compileTree(): CompiledTree {
  const pkg = compiledPackage();
  return {
    dir: pkg.dir,
    cli: join(pkg.dir, 'dist', 'cli', 'main.js'),
    worker: [join(import.meta.dirname, 'netns-worker.mjs'), join(pkg.dir, 'dist')],
    dispose: pkg.dispose,
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

/** The test side of netns-worker.mjs. */
export class NetnsWorker {
  #next = 1;
  readonly #pending = new Map<number, (reply: Reply) => void>();

  private constructor(readonly process: NetnsProcess) {
    process.child.on('message', (reply: Reply) => this.#pending.get(reply.id)?.(reply));
  }

  static async start(netns: Netns, tree: CompiledTree): Promise<NetnsWorker> {
    const started = netns.start(process.execPath, [...tree.worker], { ipc: true });
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
