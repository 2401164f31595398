'use strict';
// Load generator: N closed-loop chat users (think, send a message, read its SSE stream to the end,
// think again) plus open Poisson streams of API reads and token refreshes. One JSON line per
// finished request goes to --out; one JSON summary line goes to stdout at the end.
//
//   node loadgen.js --config PATH --url https://127.0.0.1:PORT --users N --duration S --warmup S
//                   --think '{"kind":"exponential","mean":30}' --new-conversation-share P
//                   --read-rate R --refresh-rate R --out FILE.jsonl [--seed S]

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { performance } = require('node:perf_hooks');
const dist = require('./dist.js');

const TIMEOUT_MS = 120000; // one HTTP request, from sending it to the end of its response
const DRAIN_MS = 30000;    // how long in-flight requests may finish after the run's end

function number(opts, name, min, max = Infinity) {
  const x = Number(opts[name]);
  if (opts[name] === '' || !Number.isFinite(x) || x < min || x > max) {
    throw new Error(`--${name} must be a number in [${min}, ${max}]`);
  }
  return x;
}

function main() {
  const opts = dist.parseArgs(process.argv.slice(2), {
    config: true, url: true, users: true, duration: true, warmup: true, think: true,
    'new-conversation-share': true, 'read-rate': true, 'refresh-rate': true, out: true, seed: false,
  });
  dist.loadConfig(opts.config, []); // nothing in it drives the client; read to fail early on a bad file
  const users = number(opts, 'users', 0);
  if (!Number.isInteger(users)) throw new Error('--users must be a whole number');
  const durationS = number(opts, 'duration', 0);
  const warmupS = number(opts, 'warmup', 0);
  const share = number(opts, 'new-conversation-share', 0, 1);
  const readRate = number(opts, 'read-rate', 0);
  const refreshRate = number(opts, 'refresh-rate', 0);
  let thinkDist;
  try {
    thinkDist = JSON.parse(opts.think);
  } catch {
    throw new Error('--think must be a distribution as JSON');
  }
  const rng = dist.makeRng(opts.seed !== undefined ? Number(opts.seed) : process.pid);
  const think = dist.sampler(thinkDist, rng, '--think');

  const base = new URL(opts.url);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('--url must be http:// or https://');
  const client = base.protocol === 'https:' ? https : http;
  const agent = new client.Agent({ keepAlive: true, maxSockets: Infinity, rejectUnauthorized: false });
  const prefix = base.pathname.replace(/\/$/, '');

  const out = fs.createWriteStream(opts.out);
  const counts = { message: 0, api_read: 0, refresh: 0 };
  const warmCounts = { message: 0, api_read: 0, refresh: 0 };
  const errors = { message: 0, api_read: 0, refresh: 0 };
  const record = (rec) => {
    counts[rec.kind]++;
    if (rec.warm) warmCounts[rec.kind]++;
    if (rec.error) errors[rec.kind]++;
    out.write(`${JSON.stringify(rec)}\n`);
  };

  const t0 = performance.now();
  const measureFrom = t0 + warmupS * 1000;
  const endAt = measureFrom + durationS * 1000;
  const unix = (perfMs) => (performance.timeOrigin + perfMs) / 1000;

  // In-flight work, so that the end can wait for it.
  let inflight = 0;
  let drained = null;
  const track = async (work) => {
    inflight++;
    try {
      await work();
    } finally {
      if (--inflight === 0 && drained) drained();
    }
  };

  // One HTTP request; `onResponse(res, done)` reads the response and calls done(err, value).
  function send(method, path, body, onResponse) {
    return new Promise((resolve, reject) => {
      const payload = body ? JSON.stringify(body) : null;
      const req = client.request({
        protocol: base.protocol, host: base.hostname, port: base.port, path: prefix + path, method, agent,
        headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {},
      });
      const timer = setTimeout(() => req.destroy(new Error('timed out after 120 s')), TIMEOUT_MS);
      const done = (err, value) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value);
      };
      req.on('response', (res) => {
        res.on('error', done);
        onResponse(res, done);
      });
      req.on('error', done);
      req.end(payload);
    });
  }

  const readBody = (res, done) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { text += chunk; });
    res.on('end', () => done(null, { status: res.statusCode, text }));
  };

  // Reads an SSE stream incrementally; resolves with the times (performance.now() ms) of the first
  // delta and of the done event.
  const readStream = (res, done) => {
    if (res.statusCode !== 200) {
      res.resume();
      done(null, { status: res.statusCode });
      return;
    }
    const result = { status: 200, firstAt: null, doneAt: null, error: null };
    res.setEncoding('utf8');
    dist.onSseEvents(res, (event) => {
      // Deltas are by far the most frequent event: recognized by prefix, without a JSON parse.
      if (event.startsWith('data: {"type":"delta"')) {
        if (result.firstAt === null) result.firstAt = performance.now();
        return true;
      }
      let type;
      try {
        type = JSON.parse(event.slice(6)).type;
      } catch {
        type = null;
      }
      if (type === 'done') result.doneAt = performance.now();
      else result.error = type === 'error' ? 'error event in stream' : `unexpected event: ${event.slice(0, 80)}`;
      return true;
    });
    res.on('end', () => {
      if (result.doneAt === null && !result.error) result.error = 'stream ended without done';
      done(null, result);
    });
  };

  async function message(user, conversation, isNew) {
    const sentAt = performance.now();
    const rec = {
      kind: 'message', t_start: unix(sentAt), api_s: null, ttft_s: null, stream_s: null,
      status: null, error: null, warm: sentAt >= measureFrom,
    };
    try {
      const post = await send('POST', '/api/agents/chat/openAI',
        { user, conversation, new: isNew, text: 'How do I size a server for this chat service?' }, readBody);
      rec.api_s = (performance.now() - sentAt) / 1000;
      rec.status = post.status;
      if (post.status !== 200) {
        rec.error = `HTTP ${post.status}`;
      } else {
        const stream = await send('GET', `/api/agents/chat/stream/${JSON.parse(post.text).streamId}`, null, readStream);
        rec.status = stream.status;
        if (stream.status !== 200) rec.error = `stream HTTP ${stream.status}`;
        else {
          rec.error = stream.error;
          if (stream.firstAt !== null) rec.ttft_s = (stream.firstAt - sentAt) / 1000;
          if (stream.doneAt !== null) rec.stream_s = (stream.doneAt - sentAt) / 1000;
        }
      }
    } catch (err) {
      rec.error = err.message;
    }
    record(rec);
  }

  async function simple(kind, method, path, body) {
    const sentAt = performance.now();
    const rec = {
      kind, t_start: unix(sentAt), api_s: null, ttft_s: null, stream_s: null,
      status: null, error: null, warm: sentAt >= measureFrom,
    };
    try {
      const res = await send(method, path, body, readBody);
      rec.api_s = (performance.now() - sentAt) / 1000;
      rec.status = res.status;
      if (res.status !== 200) rec.error = `HTTP ${res.status}`;
    } catch (err) {
      rec.error = err.message;
    }
    record(rec);
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function user(index) {
    const name = `u${index}`;
    let conversations = 0;
    let conversation = null;
    // The first think is uniform in [0, 2 x mean], so that users do not all start together.
    let waitMs = rng.uniform() * 2 * thinkDist.mean * 1000;
    while (performance.now() + waitMs < endAt) {
      await sleep(waitMs);
      const isNew = conversation === null || rng.uniform() < share;
      if (isNew) conversation = `c-${name}-${conversations++}`;
      await track(() => message(name, conversation, isNew));
      waitMs = think() * 1000;
    }
  }

  // Open arrivals at `rate` per second, each time computed from the previous target time so that
  // timer lateness does not lower the rate.
  function poisson(rate, fire) {
    if (rate === 0) return;
    const gap = dist.sampler({ kind: 'exponential', mean: 1000 / rate }, rng);
    let next = t0;
    const schedule = () => {
      next += gap();
      if (next >= endAt) return;
      setTimeout(() => {
        track(fire);
        schedule();
      }, Math.max(0, next - performance.now()));
    };
    schedule();
  }

  const someUser = () => `u${Math.floor(rng.uniform() * Math.max(users, 1))}`;
  poisson(readRate, () => simple('api_read', 'GET', `/api/convos?user=${someUser()}`, null));
  poisson(refreshRate, () => simple('refresh', 'POST', '/api/auth/refresh', { user: someUser() }));
  for (let i = 0; i < users; i++) user(i);

  return (async () => {
    await sleep(Math.max(0, endAt - performance.now()));
    const stoppedAt = performance.now();
    if (inflight > 0) {
      await Promise.race([new Promise((resolve) => { drained = resolve; }), sleep(DRAIN_MS)]);
    }
    await new Promise((resolve) => out.end(resolve));
    console.log(JSON.stringify({
      counts, warm_counts: warmCounts, errors, unfinished: inflight,
      t_measure_start: unix(measureFrom), t_measure_end: unix(stoppedAt),
      measured_s: (stoppedAt - measureFrom) / 1000, wall_s: (performance.now() - t0) / 1000,
    }));
    process.exit(0); // unfinished requests and idle keep-alive sockets are not waited for
  })();
}

dist.run(main);
