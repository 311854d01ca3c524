'use strict';
// The peer of `bench/run engine` (bench/README.md, "engine"): a minimal call
// controller written with the npm library esl-lite 3.2.0, doing per call
// what callgridd does for the route bench/engine/routes.yaml gives it
// (flow bench/engine/play_hangup.yaml):
//
//   CHANNEL_PARK             -> answer (only if the channel is not answered
//                               yet, as callgridd's call_state does)
//   CHANNEL_ANSWER           -> playback <prompt>, tagged with an Event-UUID
//   CHANNEL_EXECUTE_COMPLETE -> hangup NORMAL_CLEARING, when the completed
//     of that playback          application is our playback
//   CHANNEL_HANGUP_COMPLETE  -> the call is done (counted)
//
// over one inbound event socket to fsemu, like callgridd's node link. It
// keeps no records, talks to no database or Redis and has no IVR
// interpreter: it is the least a controller must do, so its CPU time per
// call is a floor for a JavaScript controller, not a like-for-like product.
//
//   node engine_peer.js --port P --password PW --prompt URI [--host H] [--timeout-ms MS]
//
// It prints `{"ready":true}` on stdout once connected and subscribed, and
// on SIGTERM/SIGINT one JSON line with its counts (and failed commands by
// error name), then exits 0. ENGINE_PEER_DEBUG=1 prints every failed command
// on stderr. The bench measures its CPU time from /proc, the same way as
// callgridd's.

const { parseArgs } = require('node:util');
const { randomUUID } = require('node:crypto');

const USAGE = 'usage: node engine_peer.js --port P --password PW --prompt URI [--host H] [--timeout-ms MS]';

function options() {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      password: { type: 'string' },
      prompt: { type: 'string' },
      'timeout-ms': { type: 'string', default: '120000' },
    },
  });
  if (!values.port || !values.password || !values.prompt) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  return { ...values, port: Number(values.port), timeoutMs: Number(values['timeout-ms']) };
}

// esl-lite wants a pino-shaped logger; the bench keeps it silent.
const quietLogger = {
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
  child() { return quietLogger; },
};

function main() {
  const opts = options();
  const { FreeSwitchClient } = require('esl-lite');
  const client = new FreeSwitchClient({
    host: opts.host, port: opts.port, password: opts.password, logger: quietLogger,
  });
  const { timeoutMs } = opts;
  // Unique-ID -> the Event-UUID of its playback ('' until it was sent).
  const calls = new Map();
  const errors = {};
  const counts = { parked: 0, answered: 0, played: 0, hung_up: 0, completed: 0, failed_commands: 0 };

  const checked = (promise, what) => {
    promise.then((result) => {
      if (result instanceof Error) {
        counts.failed_commands += 1;
        errors[result.name] = (errors[result.name] ?? 0) + 1;
        if (process.env.ENGINE_PEER_DEBUG) {
          process.stderr.write(`${what}: ${result.name} ${result.message}\n`);
        }
      }
    });
  };
  const play = (uuid) => {
    const appUuid = randomUUID();
    calls.set(uuid, appUuid);
    checked(client.execute_uuid(uuid, 'playback', opts.prompt, { 'event-uuid': appUuid }, timeoutMs), `playback ${uuid}`);
  };

  client.on('CHANNEL_PARK', (ev) => {
    const uuid = ev.body.uniqueID;
    if (!uuid || calls.has(uuid)) return;
    counts.parked += 1;
    if (ev.body.data['Answer-State'] === 'answered') {
      play(uuid);
    } else {
      calls.set(uuid, '');
      checked(client.execute_uuid(uuid, 'answer', '', {}, timeoutMs), `answer ${uuid}`);
    }
  });
  client.on('CHANNEL_ANSWER', (ev) => {
    const uuid = ev.body.uniqueID;
    if (calls.get(uuid) !== '') return;
    counts.answered += 1;
    play(uuid);
  });
  client.on('CHANNEL_EXECUTE_COMPLETE', (ev) => {
    const uuid = ev.body.uniqueID;
    const appUuid = calls.get(uuid);
    if (!appUuid || ev.body.applicationUUID !== appUuid) return;
    counts.played += 1;
    checked(client.hangup_uuid(uuid, 'NORMAL_CLEARING', timeoutMs), `hangup ${uuid}`);
  });
  client.on('CHANNEL_HANGUP_COMPLETE', (ev) => {
    const uuid = ev.body.uniqueID;
    if (!calls.has(uuid)) return;
    counts.hung_up += 1;
    if (calls.get(uuid)) counts.completed += 1;
    calls.delete(uuid);
  });

  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    process.stdout.write(`${JSON.stringify({ ...counts, live: calls.size, errors, esl_lite_stats: statsOf(client) })}\n`);
    client.end();
    process.exit(0);
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);

  // esl-lite subscribes (`event json NAME`) when a handler is added; it has no
  // "subscribed" callback, so the peer says it is ready after an api round
  // trip, which fsemu answers only after the subscriptions sent before it.
  client.bgapi('status', timeoutMs).then((result) => {
    if (result instanceof Error) {
      process.stderr.write(`engine_peer: first command failed: ${result.message}\n`);
      process.exit(1);
    }
    process.stdout.write('{"ready":true}\n');
  });
}

function statsOf(client) {
  const out = {};
  for (const [key, value] of Object.entries(client.stats ?? {})) out[key] = Number(value);
  return out;
}

main();
