#!/usr/bin/env node
// Peer side of callgrid's `esl_parse` benchmark: measures how fast a JavaScript
// ESL library turns a stream of FreeSWITCH event-socket bytes into events that
// reach the application, so that bench/run can compare our C++ parser with it.
//
//   node esl_parse_peer.js --lib esl-lite|modesl --mode memory|loopback
//        --input FILE --count N [--repeat R] [--target-s S] [--warmup W]
//        [--retries K] [--chunk BYTES]
//
// FILE holds exactly one ESL event frame (outer `Content-Length`/`Content-Type`
// header block + body, `text/event-plain` or `text/event-json`). The stream
// parsed is N back-to-back copies of it, cut into 64 KiB Buffers (what a
// net.Socket hands out per read when data is waiting). Each run opens a new
// connection. An untimed warm-up run of W events (default min(N, 5000))
// comes first. The program prints ONE JSON line on stdout with the medians
// over R timed runs (default 5); progress goes to stderr.
//
//   --target-s S  N becomes an upper bound: after the warm-up (plus a second
//                 one, S/2 long) N is lowered so that one run takes about S
//                 seconds. The JSON `events` field says which N was used.
//   --retries K   a run in which the library delivered fewer than N events
//                 (it lost frames, see esl-lite below) is discarded and run
//                 again, at most K times in all; the JSON line then carries
//                 `discarded_runs` and the last `discarded_reason`. Default 0:
//                 any short count ends the program with exit status 1.
//
// A run fails when the library delivered fewer than N events (no new event
// for STALL_MS) or when the first delivered event is not the input's event
// (wrong Event-Name, no Unique-ID, fewer than 10 fields). A failure prints
// the JSON line with an `error` field instead of numbers, and exits 1.
//
// How each library is driven, and why it is the same work as our parser
// -----------------------------------------------------------------------
// Neither library exports a function that parses bytes into event objects
// (the framing and the body parsing are separate internals, partly not
// exported), so each one runs its own, unmodified client stack on a socket
// that we control. That stack is exactly what processes real traffic:
// framing, outer header parsing, body parsing into an event object, and the
// dispatch of that object to an application handler (which only counts it).
// The stream machinery a real socket has (Readable buffering, 'data'
// events or async iteration) is part of both the memory and loopback paths.
//
// esl-lite 3.2.0 (esl-lite.cjs)
//   Entry point: the public `FreeSwitchClient` (FreeSwitchResponse over the
//   internal EslLite/FreeSwitchSocket). The application subscribes with
//   `client.on(<Event-Name>, handler)`. Internally every chunk read from the
//   socket goes through the exported `FreeSwitchParser(socket, logger)` (an
//   async generator doing `for await (chunk of socket)`: framing +
//   `parseHeaders` into a `Headers` object), then the internal, unexported
//   `processRawEvent` (JSON.parse of a text/event-json body, or `parseBody`
//   line splitting of a text/event-plain body, into a `Body`), then the
//   dispatch loop of FreeSwitchResponse.connect() emits it. Because
//   `processRawEvent` is not exported, FreeSwitchParser alone would skip the
//   body parsing; the whole client is used instead.
//   memory:   FreeSwitchSocket creates its socket with `new net.Socket()`;
//             while the client connects we substitute `net.Socket` once with
//             FakeSocket (a stream.Duplex, like net.Socket) that plays
//             FreeSWITCH in-process and hands the library the frames as
//             Buffers through the same Readable async iterator a socket has.
//   loopback: FreeSwitchClient connects over TCP to a fake FreeSWITCH running
//             in a child process (so the server's CPU time is not counted).
//   Caveats:
//   - esl-lite only ever subscribes with `event json`. It parses
//     text/event-plain events when they arrive, but does NOT url-decode the
//     values (modesl and our parser do): its plain numbers are for less
//     work than ours, and the JSON line carries a `note` saying so.
//   - Framing bug: FreeSwitchParser looks for the "\n\n" that ends a header
//     block inside the current chunk only. When a socket read ends between
//     those two newlines it misses the boundary: with a JSON body two frames
//     merge and one event is silently lost; with a plain body (which itself
//     ends in "\n\n") the stream goes out of step and the rest is garbage.
//     In memory mode our chunker never cuts there (for both libraries, same
//     bytes) so that the parsing cost can be measured. Over loopback TCP the
//     kernel decides where reads end, the bug strikes about once every
//     65536 frames (more often for plain, which never recovers), and runs
//     that lose events fail or, with --retries, are discarded and counted.
//   - After such a framing error esl-lite drops the connection and
//     reconnects by itself; every run therefore authenticates with its own
//     password so that the fake server can tell the connections apart.
//
// modesl 1.2.1 (lib/esl/Connection.js, lib/esl/Parser.js)
//   Entry point: the public `esl.Connection`; the application subscribes with
//   `conn.events('plain'|'json', <Event-Name>)` and
//   `conn.on('esl::event::<Event-Name>::*', handler)`. Internally the
//   Connection's `Parser` (also exported as esl.Parser) listens to the
//   socket's 'data' events: framing (`_onData`/`_parseHeaders`/`_parseBody`,
//   url-decoding header values), `_parseEvent` (JSON.parse or
//   `_parsePlainBody`) building an `esl.Event`, then `Connection._onEvent`
//   emits it through EventEmitter2 wildcards. Using esl.Parser alone would
//   skip that last step, which every modesl application pays for.
//   memory:   `new esl.Connection(socket, cb)` - the documented constructor
//             for an already connected socket (outbound mode) - with a
//             FakeSocket that plays FreeSWITCH in-process.
//   loopback: `new esl.Connection('127.0.0.1', port, password, cb)` (inbound
//             mode, as a control plane uses it) against the child process.
//
// Timing covers only the streaming of the N frames: from just before the
// first chunk is handed over (memory) or requested from the server
// (loopback) until the handler has seen the N-th event. The connection
// handshake (auth, event subscriptions), input preparation and process
// start-up are outside. cpu_s is user+system time of this process
// (process.cpuUsage: all its threads, GC included), wall_s uses
// process.hrtime.bigint().
'use strict';

process.noDeprecation = true; // modesl calls the deprecated `new Buffer()`

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { Duplex } = require('node:stream');
const { fork } = require('node:child_process');
const { parseArgs } = require('node:util');

const LIBS = ['esl-lite', 'modesl'];
const MODES = ['memory', 'loopback'];
const IDLE_MS = 50; // handshake is over when the client stays quiet this long
const STALL_MS = 1000; // give up when no event arrived for this long (checked every STALL_MS)
const DEFAULT_WARMUP = 5000;
const USAGE = 'usage: node esl_parse_peer.js --lib esl-lite|modesl --mode memory|loopback ' +
  '--input FILE --count N [--repeat R] [--target-s S] [--warmup W] [--retries K] [--chunk BYTES]';

// ---------------------------------------------------------------------------
// Input: one frame, repeated and cut into socket-sized chunks

class InputError extends Error {}

function describeFrame(frame) {
  const headerEnd = frame.indexOf('\n\n');
  if (headerEnd < 0) throw new InputError('input has no header block ending in an empty line');
  const headers = new Map();
  for (const line of frame.toString('latin1', 0, headerEnd).split('\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) headers.set(line.slice(0, colon), line.slice(colon + 2));
  }
  const contentType = headers.get('Content-Type');
  const length = Number(headers.get('Content-Length'));
  if (!Number.isInteger(length) || headerEnd + 2 + length !== frame.length) {
    throw new InputError(`input is not exactly one frame (header ${headerEnd + 2} B + ` +
      `Content-Length ${headers.get('Content-Length')} != file size ${frame.length} B)`);
  }
  const body = frame.toString('utf8', headerEnd + 2);
  let format;
  let eventName;
  if (contentType === 'text/event-plain') {
    format = 'plain';
    eventName = (/^Event-Name: (.*)$/m.exec(body) || [])[1];
  } else if (contentType === 'text/event-json') {
    format = 'json';
    eventName = JSON.parse(body)['Event-Name'];
  } else {
    throw new InputError(`unsupported Content-Type ${contentType} (want text/event-plain or text/event-json)`);
  }
  if (!eventName) throw new InputError('event body has no Event-Name');
  return { format, eventName };
}

// The stream of `count` copies of `frame` is periodic, so every chunk is a
// view into one small buffer holding enough copies to cover any chunk start.
// A cut never falls between the two newlines that end a header block:
// esl-lite 3.2.0 looks for "\n\n" inside each chunk only and mis-frames
// the stream from such a cut on (see the notes at the top). Moving the cut
// back by one byte costs modesl nothing and keeps the bytes identical.
function makeChunks(frame, count, chunkSize) {
  const copies = Math.ceil(chunkSize / frame.length) + 1;
  const ring = Buffer.concat(Array(copies).fill(frame));
  const total = frame.length * count;
  const byteAt = (offset) => frame[offset % frame.length];
  const chunks = [];
  let pos = 0;
  while (pos < total) {
    let end = Math.min(pos + chunkSize, total);
    while (end < total && end > pos + 1 && byteAt(end - 1) === 0x0a && byteAt(end) === 0x0a) end--;
    const start = pos % frame.length;
    chunks.push(ring.subarray(start, start + (end - pos)));
    pos = end;
  }
  return chunks;
}

// ---------------------------------------------------------------------------
// A minimal FreeSWITCH: answers the handshake, then streams the chunks

const reply = (text) => Buffer.from(`Content-Type: command/reply\nReply-Text: ${text}\n\n`);

class FakeFreeSwitch {
  // send(buf) delivers bytes to the client; onReady(password) fires once
  // the client has subscribed to `eventName` and then stayed quiet for
  // IDLE_MS. Any password is accepted unless isRetired(password) says no.
  constructor({ send, eventName, greet, onReady, isRetired = () => false }) {
    this.send = send;
    this.eventName = eventName.toUpperCase();
    this.onReady = onReady;
    this.isRetired = isRetired;
    this.password = null;
    this.pending = '';
    this.subscribed = false;
    this.timer = null;
    if (greet) send(Buffer.from('Content-Type: auth/request\n\n'));
  }

  receive(data) {
    this.pending += data.toString('latin1');
    let end;
    while ((end = this.pending.indexOf('\n\n')) >= 0) {
      const command = this.pending.slice(0, end).split('\n')[0].trim();
      this.pending = this.pending.slice(end + 2);
      this.answer(command);
    }
  }

  answer(command) {
    const verb = command.split(' ')[0];
    if (verb === 'auth') {
      const password = command.slice('auth '.length);
      if (this.isRetired(password)) {
        this.send(reply('-ERR invalid'));
        return;
      }
      this.password = password;
      this.send(reply('+OK accepted'));
    } else if (verb === 'event') {
      const words = command.toUpperCase().split(/\s+/);
      if (words.includes(this.eventName) || words.includes('ALL')) this.subscribed = true;
      this.send(reply(`+OK event listener enabled ${command.split(/\s+/)[1]}`));
    } else if (verb === 'exit') {
      this.send(reply('+OK bye'));
    } else {
      this.send(reply('+OK'));
    }
    clearTimeout(this.timer);
    if (this.subscribed && this.onReady) {
      this.timer = setTimeout(() => {
        const ready = this.onReady;
        this.onReady = null;
        ready(this.password);
      }, IDLE_MS);
    }
  }
}

// In-process stand-in for net.Socket: a Duplex whose readable side yields
// what the fake FreeSWITCH sends, one Buffer per read, with backpressure.
class FakeSocket extends Duplex {
  constructor({ eventName, greet, onReady }) {
    super();
    this.outbox = [];
    this.wantsData = false;
    this.finishedStreaming = false;
    this.peer = new FakeFreeSwitch({ send: (buf) => this.deliver(buf), eventName, greet, onReady });
  }

  deliver(buf) {
    if (this.finishedStreaming) return;
    this.outbox.push(buf);
    if (this.wantsData) this._read();
  }

  stream(chunks) {
    for (const chunk of chunks) this.outbox.push(chunk);
    if (this.wantsData) this._read();
  }

  _read() {
    this.wantsData = false;
    while (this.outbox.length > 0) {
      if (!this.push(this.outbox.shift())) return;
    }
    this.wantsData = true;
  }

  _write(chunk, _encoding, callback) {
    this.peer.receive(chunk);
    callback();
  }

  close() {
    if (this.finishedStreaming) return;
    this.finishedStreaming = true;
    this.outbox.length = 0;
    this.push(null);
  }

  // the bits of net.Socket that esl-lite's FreeSwitchSocket calls
  connect() {
    process.nextTick(() => this.emit('connect'));
    return this;
  }

  setKeepAlive() { return this; }
  setNoDelay() { return this; }
}

// ---------------------------------------------------------------------------
// Transports: how the library gets its bytes

// memory: the library reads from a FakeSocket.
function memoryTransport(eventName) {
  return {
    kind: 'memory',
    // open(connectLib) -> { streamAll(), close() } once the handshake is done
    async open(connectLib, { greet, password }) {
      let onReady;
      const ready = new Promise((resolve) => { onReady = resolve; });
      const socket = new FakeSocket({ eventName, greet, onReady });
      await connectLib({ socket, password });
      await ready;
      return {
        streamAll: (chunks) => socket.stream(chunks),
        close: () => socket.close(),
      };
    },
  };
}

// loopback: a child process runs the fake FreeSWITCH on 127.0.0.1 and
// writes the chunks to a real TCP socket. Its CPU time is not ours.
async function loopbackTransport(args) {
  const child = fork(__filename, ['--serve', '--input', args.input, '--chunk', String(args.chunk)],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const messages = [];
  let wake = null;
  const arrived = (msg) => {
    messages.push(msg);
    if (wake) wake();
  };
  child.on('message', arrived);
  child.on('exit', (code) => arrived({ type: 'exit', code }));
  const next = async (type) => {
    for (;;) {
      const i = messages.findIndex((m) => m.type === type || m.type === 'exit');
      if (i >= 0) {
        const [msg] = messages.splice(i, 1);
        if (msg.type === 'exit') throw new Error(`fake FreeSWITCH child exited (${msg.code})`);
        return msg;
      }
      await new Promise((resolve) => { wake = resolve; });
      wake = null;
    }
  };
  const { port } = await next('listening');
  return {
    kind: 'loopback',
    // Each run authenticates with its own password. A client that
    // reconnects on its own (esl-lite does after a framing error) is told
    // apart by it, and once the run is over the password is retired.
    async open(connectLib, { password }) {
      await connectLib({ host: '127.0.0.1', port, password });
      let ready;
      do ready = await next('ready'); while (ready.password !== password);
      return {
        streamAll: (chunks) => child.send({ type: 'stream', id: ready.id, count: chunks.count }),
        close: () => child.send({ type: 'retire', password }),
      };
    },
    stop: () => child.kill(),
  };
}

// Child process side of the loopback transport: one fake FreeSWITCH per
// accepted connection, named by the id sent with 'ready'.
function serve(args) {
  const frame = fs.readFileSync(args.input);
  const { eventName } = describeFrame(frame);
  const connections = new Map(); // id -> { socket, fake }
  const retired = new Set();
  let nextId = 1;
  const server = net.createServer((socket) => {
    const id = nextId++;
    socket.setNoDelay(true);
    const fake = new FakeFreeSwitch({
      send: (buf) => { if (socket.writable) socket.write(buf); },
      eventName,
      greet: true,
      onReady: (password) => process.send({ type: 'ready', id, password }),
      isRetired: (password) => retired.has(password),
    });
    connections.set(id, { socket, fake });
    socket.on('data', (data) => fake.receive(data));
    socket.on('end', () => socket.end());
    socket.on('close', () => connections.delete(id));
    socket.on('error', () => {});
  });
  process.on('message', async (msg) => {
    if (msg.type === 'retire') {
      retired.add(msg.password);
      for (const { socket, fake } of connections.values()) {
        if (fake.password === msg.password) socket.end();
      }
      return;
    }
    const socket = connections.get(msg.id)?.socket;
    if (!socket) return;
    if (msg.type === 'stream') {
      for (const chunk of makeChunks(frame, msg.count, args.chunk)) {
        if (!socket.writable) return;
        if (!socket.write(chunk)) {
          await new Promise((resolve) => {
            const done = () => {
              socket.off('drain', done);
              socket.off('close', done);
              resolve();
            };
            socket.on('drain', done);
            socket.on('close', done);
          });
        }
      }
    }
  });
  process.on('disconnect', () => process.exit(0));
  server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
}

// ---------------------------------------------------------------------------
// Libraries: connect, subscribe, count delivered events

const quietLogger = {
  child() { return quietLogger; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

// Each returns { connect(transportOptions), stop() } and calls
// `sink(event)` for every event the library hands to the application.
function eslLiteDriver({ eventName }, sink) {
  const { FreeSwitchClient } = require('esl-lite');
  let client = null;
  return {
    async connect({ socket, host, port, password }) {
      const RealSocket = net.Socket;
      if (socket) {
        // FreeSwitchSocket does `new net.Socket()` on the next tick; hand it ours.
        net.Socket = function FakeSocketForEslLite() {
          net.Socket = RealSocket;
          return socket;
        };
      }
      // In memory mode host/port only matter if esl-lite reconnected on its
      // own (after a framing error); port 1 makes that fail fast.
      client = new FreeSwitchClient({ host: host ?? '127.0.0.1', port: port ?? 1, password, logger: quietLogger });
      client.on(eventName, sink);
    },
    // what the library itself counted as bad frames
    problems() {
      const bad = ['missingContentType', 'missingEventName', 'bodyParseErrors', 'unhandled', 'nonEmptyBufferAtEnd']
        .filter((key) => client.stats[key] > 0n)
        .map((key) => `${key}=${client.stats[key]}`);
      return bad.length > 0 ? `esl-lite stats: ${bad.join(', ')}` : '';
    },
    stop() {
      client.end();
      client = null;
    },
  };
}

function modeslDriver({ eventName, format }, sink) {
  const esl = require('modesl');
  let conn = null;
  let errors = 0;
  let lastError = null;
  return {
    async connect({ socket, host, port, password }) {
      await new Promise((resolve, reject) => {
        const subscribe = () => {
          conn.on(`esl::event::${eventName}::*`, sink);
          conn.events(format, eventName, () => resolve());
        };
        conn = socket ? new esl.Connection(socket, subscribe) : new esl.Connection(host, port, password, subscribe);
        conn.on('error', (err) => {
          errors++;
          lastError = err;
          reject(err);
        });
      });
    },
    problems() {
      return errors > 0 ? `modesl emitted ${errors} errors, last: ${lastError}` : '';
    },
    stop() {
      conn.removeAllListeners();
      conn.on('error', () => {}); // EventEmitter2 throws on unhandled 'error'
      conn.disconnect();
      conn = null;
    },
  };
}

// Sanity checks on one delivered event, so that a library that "delivers"
// empty or wrong objects cannot pass. Returns an error string or null.
function checkEvent(lib, event, eventName) {
  let name;
  let uniqueId;
  let fields;
  if (lib === 'esl-lite') {
    name = event?.body?.eventName;
    uniqueId = event?.body?.uniqueID;
    fields = event?.body?.data ? Object.keys(event.body.data).length : 0;
  } else {
    name = event?.getHeader?.('Event-Name');
    uniqueId = event?.getHeader?.('Unique-ID');
    fields = event?.headers?.length ?? 0;
  }
  if (name !== eventName) return `delivered event has Event-Name ${JSON.stringify(name)}, want ${eventName}`;
  if (!uniqueId) return 'delivered event has no Unique-ID';
  if (fields < 10) return `delivered event has only ${fields} fields`;
  return null;
}

// ---------------------------------------------------------------------------
// Measurement

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

// One run: fresh connection + handshake (untimed), then stream `count`
// frames and time until the handler has counted them all.
async function runOnce({ args, info, transport, chunks }) {
  let seen = 0;
  let firstEvent = null;
  let finish = null;
  let t1 = 0n;
  let cpu1 = null;
  const sink = (event) => {
    seen++;
    if (seen === 1) firstEvent = event;
    if (seen === chunks.count) {
      t1 = process.hrtime.bigint();
      cpu1 = process.cpuUsage();
      finish();
    }
  };
  const driver = args.lib === 'esl-lite' ? eslLiteDriver(info, sink) : modeslDriver(info, sink);
  // FreeSWITCH greets inbound clients with auth/request (the loopback
  // server always does); modesl's memory mode is an outbound-style
  // connection, where the client speaks first with `connect`.
  const greet = args.lib === 'esl-lite';
  runOnce.serial = (runOnce.serial ?? 0) + 1;
  const password = `ClueCon-${runOnce.serial}`;
  const session = await transport.open((opts) => driver.connect(opts), { greet, password });
  seen = 0; // only count what arrives from the timed stream
  firstEvent = null;

  const done = new Promise((resolve) => { finish = resolve; });
  let lastSeen = -1;
  let stalled = false;
  const watchdog = setInterval(() => {
    if (seen === lastSeen) { stalled = true; finish(); }
    lastSeen = seen;
  }, STALL_MS);

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  session.streamAll(chunks);
  await done;
  clearInterval(watchdog);

  const problems = driver.problems();
  driver.stop();
  session.close();
  if (stalled) {
    return { short: true, error: `${args.lib} delivered ${seen} of ${chunks.count} ${info.format} events, then nothing ` +
      `for ${STALL_MS / 1000} s${problems ? ` (${problems})` : ''}` };
  }
  const bad = checkEvent(args.lib, firstEvent, info.eventName);
  if (bad) return { error: bad };
  const cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1e6;
  const wall = Number(t1 - t0) / 1e9;
  return { cpu, wall };
}

function parseCli() {
  const { values } = parseArgs({
    options: {
      lib: { type: 'string' },
      mode: { type: 'string' },
      input: { type: 'string' },
      count: { type: 'string' },
      repeat: { type: 'string', default: '5' },
      'target-s': { type: 'string' },
      warmup: { type: 'string' },
      retries: { type: 'string', default: '0' },
      chunk: { type: 'string', default: String(64 * 1024) },
      serve: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) { console.log(USAGE); process.exit(0); }
  const die = (message) => { console.error(`esl_parse_peer: ${message}\n${USAGE}`); process.exit(2); };
  const num = (name, min, integer = true) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) die(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
    return n;
  };
  if (!values.input) die('--input is required');
  const args = { input: values.input, chunk: num('chunk', 1), serve: values.serve };
  if (values.serve) return args;
  if (!LIBS.includes(values.lib)) die(`--lib must be one of ${LIBS.join(', ')}`);
  if (!MODES.includes(values.mode)) die(`--mode must be one of ${MODES.join(', ')}`);
  if (values.count === undefined) die('--count is required');
  args.lib = values.lib;
  args.mode = values.mode;
  args.count = num('count', 1);
  args.repeat = num('repeat', 1);
  args.targetS = values['target-s'] === undefined ? null : num('target-s', 0.01, false);
  if (values.warmup === undefined) values.warmup = String(Math.min(args.count, DEFAULT_WARMUP));
  args.warmup = num('warmup', args.targetS ? 1 : 0);
  args.retries = num('retries', 0);
  return args;
}

function libVersion(lib) {
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', lib, 'package.json'), 'utf8')).version;
}

async function main() {
  const args = parseCli();
  if (args.serve) { serve(args); return; }

  const frame = fs.readFileSync(args.input);
  const info = describeFrame(frame);
  const result = { lib: args.lib, mode: args.mode, input: path.basename(args.input), events: args.count };
  const extras = {
    format: info.format,
    frame_bytes: frame.length,
    repeats: args.repeat,
    chunk_bytes: args.chunk,
    version: libVersion(args.lib),
    node: process.version,
  };
  if (args.lib === 'esl-lite' && info.format === 'plain') {
    extras.note = 'esl-lite does not url-decode text/event-plain values (and only subscribes in json)';
  }

  const transport = args.mode === 'memory' ? memoryTransport(info.eventName) : await loopbackTransport(args);
  const fail = (error) => {
    console.log(JSON.stringify({ ...result, error, ...extras }));
    transport.stop?.();
    process.exit(1);
  };
  const stream = (count) => {
    const chunks = args.mode === 'memory' ? makeChunks(frame, count, args.chunk) : [];
    chunks.count = count;
    return chunks;
  };
  const log = (text) => process.stderr.write(`  ${args.lib} ${args.mode} ${result.input}: ${text}\n`);

  // A run whose event count falls short (a library mis-framed the stream)
  // is discarded and run again, at most --retries times in all.
  const discarded = [];
  const measure = async (chunks, label) => {
    for (;;) {
      const r = await runOnce({ args, info, transport, chunks });
      if (!r.error) return r;
      if (!r.short || discarded.length >= args.retries) {
        fail(`${label}: ${r.error}${discarded.length ? ` (after ${discarded.length} discarded runs)` : ''}`);
      }
      discarded.push(r.error);
      log(`${label}: run discarded: ${r.error}`);
    }
  };

  if (args.warmup > 0) {
    let r = await measure(stream(args.warmup), 'warm-up');
    let rate = args.warmup / r.wall;
    if (args.targetS) {
      // The first warm-up runs cold code; a second one, about half a
      // measurement long, gives a rate close to the steady one.
      const second = Math.max(1, Math.round(rate * args.targetS));
      r = await measure(stream(second), 'warm-up');
      rate = second / r.wall;
      result.events = Math.max(1, Math.min(args.count, Math.round(rate * args.targetS)));
    }
    log(`warm-up: ${rate.toFixed(0)} events/s -> ${result.events} events per run`);
  }
  const count = result.events;
  const chunks = stream(count);
  const cpu = [];
  const wall = [];
  for (let i = 0; i < args.repeat; i++) {
    const r = await measure(chunks, `run ${i + 1}`);
    cpu.push(r.cpu);
    wall.push(r.wall);
    log(`run ${i + 1}: ${(count / r.cpu).toFixed(0)} events/cpu-s, ${(count / r.wall).toFixed(0)} events/s`);
  }
  if (discarded.length > 0) {
    extras.discarded_runs = discarded.length;
    extras.discarded_reason = discarded[discarded.length - 1];
  }
  transport.stop?.();

  const cpuS = median(cpu);
  const wallS = median(wall);
  console.log(JSON.stringify({
    ...result,
    cpu_s: +cpuS.toFixed(6),
    wall_s: +wallS.toFixed(6),
    events_per_cpu_s: Math.round(count / cpuS),
    events_per_s: Math.round(count / wallS),
    bytes_per_s: Math.round((count * frame.length) / wallS),
    ...extras,
  }));
  process.exit(0);
}

main().catch((err) => {
  console.error(`esl_parse_peer: ${err instanceof InputError ? err.message : err?.stack ?? err}`);
  process.exit(1);
});
