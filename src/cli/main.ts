#!/usr/bin/env node
import { AsmSyntaxError, DslError } from '../asm/errors.js';
import { EncodingError } from '../asm/instruction.js';
import { asmCommand } from './commands/asm.js';
import { captureCommand } from './commands/capture.js';
import { buildCommand } from './commands/build.js';
import { attachCommand } from './commands/attach.js';
import { demoCommand } from './commands/demo.js';
import { detachCommand } from './commands/detach.js';
import { dumpCommand } from './commands/dump.js';
import { listCommand } from './commands/list.js';
import { probeCommand } from './commands/probe.js';
import { testRunCommand } from './commands/test-run.js';
import { UsageError, type Command } from './usage.js';

const COMMANDS: readonly Command[] = [dumpCommand, buildCommand, asmCommand, listCommand, testRunCommand, probeCommand, attachCommand, detachCommand, demoCommand, captureCommand];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: bpfgen COMMAND [options]',
    '',
    'Build eBPF programs for this host in TypeScript, with no compiler.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
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
    (error instanceof Error && error.name === 'OptionError')
  );
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    process.stdout.write(`${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help}\n`);
    return 0;
  }
  return command.run(rest);
}

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
