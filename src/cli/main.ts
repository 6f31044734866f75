#!/usr/bin/env node
import { AsmSyntaxError, DslError } from '../asm/errors.js';
import { EncodingError } from '../asm/instruction.js';
import { PinDirectoryError } from '../loader/pins.js';
import { UsageError, type Command } from './usage.js';

/**
 * Each command's module, imported only when it is needed: a cold start then
 * compiles what that command uses (a plain `bpfgen dump` needs neither the
 * loader nor netlink), which is most of the time a short command takes.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  dump: async () => (await import('./commands/dump.js')).dumpCommand,
  build: async () => (await import('./commands/build.js')).buildCommand,
  asm: async () => (await import('./commands/asm.js')).asmCommand,
  list: async () => (await import('./commands/list.js')).listCommand,
  'test-run': async () => (await import('./commands/test-run.js')).testRunCommand,
  probe: async () => (await import('./commands/probe.js')).probeCommand,
  attach: async () => (await import('./commands/attach.js')).attachCommand,
  detach: async () => (await import('./commands/detach.js')).detachCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
  capture: async () => (await import('./commands/capture.js')).captureCommand,
};

async function overview(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: bpfgen COMMAND [options]',
    '',
    'Build eBPF programs for this host in TypeScript, with no compiler.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run bpfgen COMMAND --help for its options and examples.',
    '',
  ].join('\n');
}

/** Errors that mean the input was wrong, not bpfgen: one line, exit code 2. */
function isInputError(error: unknown): error is Error {
  return (
    error instanceof UsageError ||
    error instanceof AsmSyntaxError ||
    error instanceof EncodingError ||
    error instanceof DslError ||
    // A --pin DIR that is missing, not on a bpf filesystem, or holding something else.
    error instanceof PinDirectoryError ||
    (error instanceof Error && error.name === 'OptionError')
  );
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await overview());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    process.stdout.write(`${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) throw new UsageError(`unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(rest);
}

// A reader that stops early (`bpfgen dump ... | head`) closes the pipe: that ends the output, it is not an error.
// Commands that stream (capture) listen themselves, to finish the way Ctrl-C would.
function onStdoutError(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
  if (process.stdout.listeners('error').some((listener) => listener !== onStdoutError)) return;
  process.exit(0);
}
process.stdout.on('error', onStdoutError);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isInputError(error)) {
      process.stderr.write(`bpfgen: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`bpfgen: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.BPFGEN_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    else process.stderr.write('bpfgen: set BPFGEN_DEBUG=1 for a stack trace, and please report this\n');
    process.exitCode = 1;
  },
);
