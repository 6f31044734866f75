// Drives the library API (attachDnsRedirect) from inside a network namespace
// for the scenario test, which cannot enter one itself. Usage, with a Node
// IPC channel: node driver.mjs DIST_DIR, options as JSON in
// DNS_REDIRECT_OPTIONS. It attaches and sends {event: 'attached', info,
// lines}, then answers {command: 'update', changes} with {event: 'updated',
// info} and {command: 'close'} with {event: 'closed'}, after which it exits;
// any failure is {event: 'error', message}.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const { attachDnsRedirect } = await import(pathToFileURL(join(process.argv[2], 'loader', 'dns-redirect.js')).href);

const fail = (error) => process.send({ event: 'error', message: error instanceof Error ? error.message : String(error) });

let redirect;
try {
  redirect = await attachDnsRedirect(JSON.parse(process.env.DNS_REDIRECT_OPTIONS));
  process.send({ event: 'attached', info: redirect.info, lines: redirect.describe() });
} catch (error) {
  fail(error);
  process.disconnect();
}

process.on('message', async (message) => {
  try {
    if (message.command === 'update') {
      await redirect.update(message.changes);
      process.send({ event: 'updated', info: redirect.info });
    } else if (message.command === 'close') {
      await redirect.close();
      process.send({ event: 'closed' });
      process.disconnect();
    }
  } catch (error) {
    fail(error);
  }
});
