import { PROGRAMS } from '../../programs/index.js';
import { parseCommandLine } from '../args.js';
import { programOptionHelp } from '../program-args.js';
import type { Command } from '../usage.js';

export const listCommand: Command = {
  name: 'list',
  summary: 'list the built-in programs and their options',
  help: `Usage: bpfgen list

Lists the programs bpfgen can build, with each one's options and defaults.

Example:
  bpfgen list`,
  async run(argv) {
    parseCommandLine('list', argv, {}, false);
    const blocks = Object.values(PROGRAMS).map(
      (p) => `${p.name} (${p.type})\n  ${p.description}\n${programOptionHelp(p)}`,
    );
    process.stdout.write(`${blocks.join('\n\n')}\n`);
    return 0;
  },
};
