import { ATTACHABLE, detachInterface, detachPinned } from '../../loader/attachment.js';
import { parseCommandLine } from '../args.js';
import { isSystemRefusal } from '../attach-support.js';
import { UsageError, type Command } from '../usage.js';

export const detachCommand: Command = {
  name: 'detach',
  summary: 'undo a pinned attachment (--pin DIR), or remove bpfgen programs from an interface (--iface)',
  help: `Usage: bpfgen detach --pin DIR
       bpfgen detach --iface IFACE

--pin DIR undoes what bpfgen attach --pin DIR left: it detaches the pinned
link, or removes the program recorded as attached through netlink from its
interface (only if the interface still runs that very program), then removes
the pins and DIR. A DIR holding anything bpfgen did not pin is left untouched.

--iface IFACE removes from IFACE the programs bpfgen attached there through
netlink, recognised by their kernel program names:
${Object.values(ATTACHABLE)
  .map((entry) => `  ${entry.name}: ${entry.kernelNames.join(', ')}`)
  .join('\n')}
Programs of other names are never touched. A program held by a bpf link is ended by its
owner: stop the bpfgen attach that runs it, or detach its --pin DIR.
Exits 1 when IFACE has nothing of bpfgen's.

Run it in the network namespace the program was attached in. Needs root.

Examples:
  bpfgen detach --pin /sys/fs/bpf/dns-fwd
  bpfgen detach --iface lo`,
  async run(argv) {
    const { values, positionals } = parseCommandLine('detach', argv, { pin: { type: 'string' }, iface: { type: 'string' } }, false);
    const pin = values.pin as string | undefined;
    const iface = values.iface as string | undefined;
    if (positionals.length > 0 || (pin === undefined) === (iface === undefined)) {
      throw new UsageError('detach: give exactly one of --pin DIR and --iface IFACE (see bpfgen detach --help)');
    }
    try {
      const done = pin !== undefined ? await detachPinned(pin) : await detachInterface(iface!);
      if (done.length === 0) {
        process.stderr.write(`bpfgen: detach: ${iface} runs no program that bpfgen attached through netlink; nothing was detached\n`);
        return 1;
      }
      for (const line of done) process.stdout.write(`${line}\n`);
      return 0;
    } catch (error) {
      if (!isSystemRefusal(error)) throw error;
      process.stderr.write(`bpfgen: detach: ${error.message}\n`);
      return 1;
    }
  },
};
