/**
 * A tiny authoritative DNS responder and a one-shot client, over node:dgram
 * and dns-packet: what `bpfgen demo` (and the tests) put on each side of
 * xdp-dns-forward. The responder answers A questions for the names it was
 * given and NXDOMAIN for others; it never recurses.
 */
import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';

/** RCODE values (RFC 1035 4.1.1), the low four bits of the flags. */
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const NXDOMAIN = 3;

/** Seconds the answers may be cached. */
const ANSWER_TTL = 60;

export interface DnsResponderOptions {
  readonly address: string;
  readonly port: number;
  /** Name → IPv4 address. */
  readonly answers: Readonly<Record<string, string>>;
}

/** The A answers of a question, or undefined for a name the responder does not know. */
function answerFor(answers: Readonly<Record<string, string>>, question: dnsPacket.Question): dnsPacket.Answer[] | undefined {
  const address = answers[question.name.toLowerCase()];
  if (address === undefined) return undefined;
  return question.type === 'A' ? [{ type: 'A', name: question.name, class: 'IN', ttl: ANSWER_TTL, data: address }] : [];
}

export class DnsResponder {
  #queries = 0;

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    readonly port: number,
  ) {}

  /** Bind and start answering; rejects (naming the address) when the socket cannot be bound. */
  static async start(options: DnsResponderOptions): Promise<DnsResponder> {
    const socket = createSocket('udp4');
    const answers = Object.fromEntries(Object.entries(options.answers).map(([name, address]) => [name.toLowerCase(), address]));
    const responder = new DnsResponder(socket, options.address, options.port);
    socket.on('message', (message, peer) => {
      let query: dnsPacket.Packet;
      try {
        query = dnsPacket.decode(message);
      } catch {
        return; // Not DNS: a responder ignores what it cannot parse.
      }
      if (query.type !== 'query' || !query.questions?.length) return;
      responder.#queries++;
      const question = query.questions[0]!;
      const found = answerFor(answers, question);
      const reply = dnsPacket.encode({
        id: query.id,
        type: 'response',
        flags: dnsPacket.AUTHORITATIVE_ANSWER | (found ? 0 : NXDOMAIN),
        questions: query.questions,
        answers: found ?? [],
      });
      socket.send(reply, peer.port, peer.address);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (error) => reject(new Error(`DNS responder cannot listen on ${options.address}:${options.port}: ${error.message}`)));
      socket.bind(options.port, options.address, () => resolve());
    });
    return responder;
  }

  /** Queries answered so far. */
  get queries(): number {
    return this.#queries;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

export interface DnsAnswer {
  /** The A addresses answered, in order. */
  readonly addresses: readonly string[];
  readonly rcode: string;
  /** Where the reply came from, as the client's kernel delivered it. */
  readonly from: { readonly address: string; readonly port: number };
}

/** Ask `server:port` for the A records of `name`; rejects after `timeoutMs` without a reply. */
export async function queryA(server: string, port: number, name: string, timeoutMs = 2000): Promise<DnsAnswer> {
  const socket = createSocket('udp4');
  const id = Math.floor(Math.random() * 0x10000);
  try {
    return await new Promise<DnsAnswer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${server}:${port} for ${name} within ${timeoutMs} ms`)), timeoutMs);
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on('message', (message, peer) => {
        let reply: dnsPacket.Packet;
        try {
          reply = dnsPacket.decode(message);
        } catch {
          return;
        }
        if (reply.id !== id || reply.type !== 'response') return;
        clearTimeout(timer);
        const rcode = (reply.flags ?? 0) & 0xf;
        resolve({
          addresses: (reply.answers ?? []).flatMap((answer) => (answer.type === 'A' ? [answer.data] : [])),
          rcode: RCODE_NAMES[rcode] ?? `RCODE ${rcode}`,
          from: { address: peer.address, port: peer.port },
        });
      });
      socket.send(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, server);
    });
  } finally {
    socket.close();
  }
}
