import { ATTACHABLE, attachableNamed, type Attachment } from '../../loader/attachment.js';
import { preparePinDirectory } from '../../loader/pins.js';
import { programNamed } from '../../programs/index.js';
import { parseCommandLine } from '../args.js';
import { attachFlags, attachOptionHelp, attachOptionValues, catchStopSignals, isSystemRefusal, SIGNAL_EXIT_CODES } from '../attach-support.js';
import { programFlags, programOptionHelp, programOptionValues } from '../program-args.js';
import { UsageError, type Command } from '../usage.js';

const programHelp = Object.values(ATTACHABLE)
  .map((entry) => {
    const program = programNamed(entry.name);
    const heading = program ? `  ${entry.name} (${program.type})\n${programOptionHelp(program)}` : `  ${entry.name} (${entry.kernelNames.join(', ')})`;
    return `${heading}\n${attachOptionHelp(entry.options)}`;
  })
  .join('\n');

export const attachCommand: Command = {
  name: 'attach',
  summary: 'build, load and attach a program (XDP through a bpf_link or netlink), in the foreground or pinned',
  help: `Usage: bpfgen attach PROGRAM [program options] [attach options] [--pin DIR]

Builds PROGRAM for this host, loads it, attaches it and prints what it did.

Without --pin it stays in the foreground until SIGINT (Ctrl-C), SIGTERM or
SIGHUP, then detaches what it attached and exits with 130, 143 or 129. A
signal that arrives while attaching is handled the same way once the
attachment is complete, so nothing is left behind.

With --pin DIR it pins the link, the program and its maps into DIR and exits,
leaving the program attached; bpfgen detach --pin DIR undoes that. DIR must be
on a bpf filesystem (e.g. under /sys/fs/bpf): it is created if missing, and
must be empty if it exists. A program attached through netlink (not a link) is
pinned under a name that records the interface and mode, e.g.
xdp-netlink-generic-1-lo, since a bpf filesystem holds only bpf objects.

Needs root (or CAP_BPF with CAP_NET_ADMIN).

Options:
  --pin DIR   pin into DIR and exit instead of staying in the foreground

Programs and their options:
${programHelp}

Examples:
  bpfgen attach xdp-dns-forward --iface lo
  bpfgen attach xdp-dns-forward --dns-ip 100.127.136.241 --listen-port 5053 --config map
  bpfgen attach xdp-dns-forward --attach netlink --pin /sys/fs/bpf/dns-fwd
  bpfgen detach --pin /sys/fs/bpf/dns-fwd`,
  async run(argv) {
    // Program and attach flags are only known once the program is named, so find it first.
    const named = argv.map(attachableNamed).find((entry) => entry !== undefined);
    const program = named ? programNamed(named.name) : undefined;
    const { values, positionals } = parseCommandLine('attach', argv, {
      pin: { type: 'string' },
      ...(program ? programFlags(program) : {}),
      ...(named ? attachFlags(named.options) : {}),
    });
    if (positionals.length !== 1) throw new UsageError(`attach: expected one PROGRAM${positionals.length > 1 ? `, not ${positionals.length} arguments` : ''} (attachable: ${Object.keys(ATTACHABLE).join(', ')})`);
    const name = positionals[0]!;
    if (!named) {
      const why = programNamed(name) ? `${name} cannot be attached by bpfgen attach` : `unknown program '${name}'`;
      throw new UsageError(`attach: ${why} (attachable: ${Object.keys(ATTACHABLE).join(', ')})`);
    }
    const options = { ...(program ? programOptionValues(program, values) : {}), ...attachOptionValues(named.options, values) };
    const pin = values.pin as string | undefined;
    if (pin === '') throw new UsageError('attach: --pin needs a directory');

    // Caught before anything is attached, so that no signal can end the process half way.
    const signals = catchStopSignals();
    let attachment: Attachment | undefined;
    try {
      const pinDirectory = pin === undefined ? undefined : preparePinDirectory(pin);
      try {
        attachment = await named.attach(options);
        for (const line of attachment.describe()) process.stdout.write(`${line}\n`);
        if (pin !== undefined) {
          const paths = attachment.pin(pin);
          attachment.release();
          attachment = undefined;
          process.stdout.write(`pinned    ${paths.join(', ')}\n`);
          process.stdout.write(`left attached; undo with: bpfgen detach --pin ${pin}\n`);
          return 0;
        }
      } catch (error) {
        // Undo in order: the attachment (and its pins), then the directory made for them.
        const failed = attachment;
        attachment = undefined;
        await failed?.close();
        pinDirectory?.removeCreated();
        throw error;
      }
      process.stdout.write('running   until SIGINT (Ctrl-C), SIGTERM or SIGHUP; then detaching\n');
      const signal = await signals.received;
      await attachment.close();
      attachment = undefined;
      process.stdout.write(`${signal}: detached, exiting\n`);
      return SIGNAL_EXIT_CODES[signal];
    } catch (error) {
      if (!isSystemRefusal(error)) throw error;
      process.stderr.write(`bpfgen: attach: ${error.message}\n`);
      return 1;
    } finally {
      try {
        await attachment?.close();
      } finally {
        signals.dispose();
      }
    }
  },
};
