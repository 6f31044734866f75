// The container's own resolver in the tc-dns-redirect scenario test: answers
// every A question with one fixed address, so that an answer tells which
// resolver gave it. Usage: node local-resolver.mjs ADDRESS PORT ANSWER
// (run inside the namespace); prints "listening" once bound.
import { createRequire } from 'node:module';
import dgram from 'node:dgram';

const require = createRequire(new URL('../../package.json', import.meta.url));
const dnsPacket = require('dns-packet');

const [address, port, answer] = process.argv.slice(2);
const socket = dgram.createSocket('udp4');
socket.on('message', (message, peer) => {
  const query = dnsPacket.decode(message);
  const reply = dnsPacket.encode({
    id: query.id,
    type: 'response',
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: query.questions,
    answers: query.questions.map((question) => ({ name: question.name, type: 'A', ttl: 60, data: answer })),
  });
  socket.send(reply, peer.port, peer.address);
});
socket.bind(Number(port), address, () => console.log('listening'));
