/**
 * DNS capture: the socket-dns-filter program on a packet socket, frames
 * decoded into DNS messages with their packet metadata.
 *
 *     const capture = captureDns({ iface: 'lo' });
 *     for await (const message of capture) console.log(message.id, message.questions);
 *     capture.close();   // from elsewhere (a signal handler, a timer) to end the loop
 *
 * Each message is reported once. On a loopback device the packet socket
 * sees every frame twice, as it leaves and as it comes back in; like
 * tcpdump (libpcap drops outgoing frames on lo), the capture keeps only the
 * incoming copy.
 */
import { buildSocketDnsFilter } from '../programs/socket-dns-filter.js';
import { decodeDnsFrame, type DnsMessage } from './dns-frame.js';
import { openPacketSocket, type PacketSocket } from './packet-socket.js';
import { loadProgram } from './program.js';

export interface DnsCaptureOptions {
  /** Interface name or index; every interface when absent. */
  readonly iface?: string | number;
  /** The DNS port, as source or destination. */
  readonly port?: number;
  /** Socket receive buffer in bytes. */
  readonly receiveBufferBytes?: number;
}

export interface DnsCaptureStats {
  /** Frames the filter kept and the kernel queued, including those it dropped. */
  readonly kernelReceived: number;
  /** Frames the kernel dropped because this process read too slowly. */
  readonly kernelDropped: number;
  /** Outgoing copies on loopback devices, skipped (see above). */
  readonly loopbackDuplicates: number;
  /** Frames the filter kept whose IP or UDP length ends before the DNS header (its bytes were padding): not reported. */
  readonly skipped: number;
  /** Messages reported. */
  readonly messages: number;
  readonly malformed: number;
  readonly fragments: number;
}

export class DnsCapture implements AsyncIterable<DnsMessage> {
  readonly #socket: PacketSocket;
  #loopbackDuplicates = 0;
  #skipped = 0;
  #messages = 0;
  #malformed = 0;
  #fragments = 0;

  /** Start with `captureDns`. */
  constructor(socket: PacketSocket) {
    this.#socket = socket;
  }

  /** The next message; done once close() was called. Rejects when reading fails (e.g. the interface went down). */
  async next(): Promise<IteratorResult<DnsMessage>> {
    for (;;) {
      const frame = await this.#socket.next();
      if (frame.done) return { value: undefined, done: true };
      if (frame.value.loopback && frame.value.direction === 'out') {
        this.#loopbackDuplicates++;
        continue;
      }
      const message = decodeDnsFrame(frame.value);
      if (!message) {
        this.#skipped++;
        continue;
      }
      this.#messages++;
      if (message.status === 'malformed') this.#malformed++;
      if (message.status === 'fragment') this.#fragments++;
      return { value: message, done: false };
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<DnsMessage> {
    return {
      next: () => this.next(),
      // Leaving a for-await loop early ends the capture.
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  stats(): DnsCaptureStats {
    const socket = this.#socket.stats();
    return {
      kernelReceived: socket.received,
      kernelDropped: socket.dropped,
      loopbackDuplicates: this.#loopbackDuplicates,
      skipped: this.#skipped,
      messages: this.#messages,
      malformed: this.#malformed,
      fragments: this.#fragments,
    };
  }

  get closed(): boolean {
    return this.#socket.closed;
  }

  /** Stop capturing: the socket (and with it the filter) goes away, and the iteration ends. */
  close(): void {
    this.#socket.close();
  }
}

/**
 * Load socket-dns-filter for `port` and attach it to a packet socket on
 * `iface`. Synchronous: when it returns, the capture is running. The socket
 * holds the only reference to the program, so nothing outlives close().
 */
export function captureDns(options: DnsCaptureOptions = {}): DnsCapture {
  const filter = loadProgram(buildSocketDnsFilter(options.port === undefined ? {} : { port: options.port }));
  try {
    return new DnsCapture(openPacketSocket({ iface: options.iface, filter, receiveBufferBytes: options.receiveBufferBytes }));
  } finally {
    filter.close();
  }
}
