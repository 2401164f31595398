'use strict';
// One replica of an imitation LibreChat API: Express, PostgreSQL for conversations and messages,
// Redis for rate-limit/session keys and for carrying generated tokens (pub/sub) from the replica
// that runs the generation to the replica holding the client's SSE stream, a mock LLM upstream,
// and CPU work burned synchronously on the event loop as drawn from the config.
//
//   node server.js --config PATH --port N --pg postgres://... --redis redis://... --llm http://...
//                  --replica NAME [--seed S]

const http = require('node:http');
const crypto = require('node:crypto');
const express = require('express');
const pg = require('pg');
const Redis = require('ioredis');
const prom = require('prom-client');
const dist = require('./dist.js');

const RETRY_MS = 5;            // first retry of a publish that found no subscriber; doubles up to
const RETRY_MAX_MS = 500;      // this, so a reader that left before its first event costs little
const ORPHAN_MS = 60000;       // a stream nobody subscribes to within this time is dropped
const LLM_TIMEOUT_MS = 120000; // an LLM socket idle this long fails the job
const SCHEMA_LOCK = 727401;    // advisory lock key serializing schema creation across replicas

// Busy-waits `seconds` on the calling (event loop) thread. The server is pinned to its own core,
// so the wall time measured here is CPU time.
function burn(seconds) {
  if (!(seconds > 0)) return;
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < end);
}

function main() {
  const opts = dist.parseArgs(process.argv.slice(2), {
    config: true, port: true, pg: true, redis: true, llm: true, replica: true, seed: false,
  });
  dist.seed(opts.seed !== undefined ? Number(opts.seed) : process.pid);
  const { config, samplers } = dist.loadConfig(opts.config, ['cpu']);
  const cpu = samplers.cpu;
  for (const name of ['message', 'token_count', 'api_read', 'refresh', 'title', 'stream_delta']) {
    if (!cpu[name]) throw new Error(`${opts.config}: no cpu.${name}`);
  }
  const whole = (value, fallback, min, name) => {
    const x = value ?? fallback;
    if (!Number.isInteger(x) || x < min) throw new Error(`${opts.config}: ${name} must be a whole number >= ${min}`);
    return x;
  };
  const db = config.db || {};
  const poolSize = whole(db.pool_size, 10, 1, 'db.pool_size');
  const historyLimit = whole(db.history_limit, 50, 1, 'db.history_limit');
  const extraWrites = whole(db.extra_writes, 2, 0, 'db.extra_writes');
  const redisOps = whole(config.redis_ops_per_request, 1, 0, 'redis_ops_per_request');

  // ---- metrics ----
  prom.register.setDefaultLabels({ replica: opts.replica });
  prom.collectDefaultMetrics();
  const m = {
    requests: new prom.Counter({
      name: 'http_requests_total', help: 'HTTP requests by route pattern, counted when the response ends',
      labelNames: ['method', 'route', 'status'],
    }),
    duration: new prom.Histogram({
      name: 'http_request_duration_seconds', help: 'Time from request to the end of the response',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    }),
    deltas: new prom.Counter({ name: 'librechat_stream_deltas_total', help: 'Stream chunks processed' }),
    tokens: new prom.Counter({ name: 'librechat_output_tokens_total', help: 'Tokens of finished streams' }),
    open: new prom.Gauge({ name: 'librechat_streams_open', help: 'Streams being generated' }),
    ttft: new prom.Histogram({
      name: 'librechat_time_to_first_token_seconds', help: 'From the LLM request to its first chunk',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 30, 60],
    }),
    rate: new prom.Histogram({
      name: 'librechat_stream_token_rate', help: 'Tokens per second from the first token to the end of a stream',
      buckets: prom.exponentialBuckets(1, 1.05, 143), // 1 .. ~1070 tokens/s in 5% steps
    }),
    titles: new prom.Counter({ name: 'librechat_title_jobs_total', help: 'Title jobs finished' }),
    errors: new prom.Counter({
      name: 'librechat_background_errors_total', help: 'Failed background jobs (stream, title), and streams whose reader left or never came (undelivered)',
      labelNames: ['job'],
    }),
    connections: new prom.Counter({
      name: 'testbed_http_connections_total', help: 'TCP connections the API accepted (proxy connection churn)',
    }),
    // Not one of LibreChat's: the CPU time drawn from the config, by kind, so that measured CPU can
    // be compared with what was configured (the difference is the framework's overhead).
    burned: new prom.Counter({
      name: 'testbed_cpu_burn_seconds_total', help: 'CPU seconds burned as configured', labelNames: ['kind'],
    }),
  };
  // Labelled series exist from the start (at 0), so that rate() sees their first increase.
  for (const job of ['stream', 'title', 'undelivered']) m.errors.inc({ job }, 0);
  const burned = {}; // kind -> the counter's child, bound once (a labelled inc() hashes its labels)
  for (const kind of ['message', 'token_count', 'stream_delta', 'api_read', 'refresh', 'title']) {
    burned[kind] = m.burned.labels({ kind });
    burned[kind].inc(0);
  }
  const burnAs = (kind, seconds) => {
    burn(seconds);
    burned[kind].inc(seconds);
  };

  // ---- connections ----
  // Idle connections are kept (idleTimeoutMillis 0): reconnecting after a quiet spell would add
  // connection setup work to the measurements.
  const pool = new pg.Pool({ connectionString: opts.pg, max: poolSize, idleTimeoutMillis: 0 });
  const redis = new Redis(opts.redis);      // commands and PUBLISH
  const sub = new Redis(opts.redis);        // the process's one subscriber connection
  const llmUrl = new URL(opts.llm);
  const llmAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  // Startup and connection problems are printed; per-request errors are only counted.
  pool.on('error', (err) => console.error(`pg: ${err.message}`));
  redis.on('error', (err) => console.error(`redis: ${err.message}`));
  sub.on('error', (err) => console.error(`redis subscriber: ${err.message}`));

  // Named statements: each is parsed and planned once per connection, then only executed.
  const Q = {
    history: `SELECT id, role, text, tokens FROM messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT ${historyLimit}`,
    newConvo: 'INSERT INTO conversations (id, user_id, title, updated_at) VALUES ($1, $2, \'New Chat\', now()) ON CONFLICT (id) DO NOTHING',
    addMessage: 'INSERT INTO messages (conversation_id, user_id, role, text, tokens) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    touchConvo: 'UPDATE conversations SET updated_at = now() WHERE id = $1',
    setTokens: 'UPDATE messages SET tokens = $2 WHERE id = $1',
    setTitle: 'UPDATE conversations SET title = $2 WHERE id = $1',
    convos: 'SELECT id, title, updated_at FROM conversations WHERE user_id = $1 ORDER BY updated_at DESC LIMIT 20',
  };
  const q = (client, name, values) => client.query({ name, text: Q[name], values });

  async function createSchema() {
    const client = await pool.connect();
    try {
      // CREATE ... IF NOT EXISTS races between replicas starting together: serialize with a lock.
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await client.query(`CREATE TABLE IF NOT EXISTS conversations (
        id text PRIMARY KEY, user_id text, title text, updated_at timestamptz)`);
      await client.query(`CREATE TABLE IF NOT EXISTS messages (
        id bigserial PRIMARY KEY, conversation_id text, user_id text, role text, text text, tokens int,
        created_at timestamptz DEFAULT now())`);
      await client.query('CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, id)');
      await client.query('CREATE INDEX IF NOT EXISTS conversations_user ON conversations (user_id)');
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async function redisWork(command, key, ...args) {
    for (let i = 0; i < redisOps; i++) await redis[command](key, ...args);
  }

  // POSTs a JSON body to the mock LLM; resolves with the response once its headers are in.
  function llmPost(path, body) {
    return new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = http.request({
        host: llmUrl.hostname, port: llmUrl.port, path, method: 'POST', agent: llmAgent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
      }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`LLM ${path}: HTTP ${res.statusCode}`));
        } else {
          res.setEncoding('utf8');
          resolve(res);
        }
      });
      req.setTimeout(LLM_TIMEOUT_MS, () => req.destroy(new Error(`LLM ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  // ---- publishing a stream's events, with a buffer for when nobody is subscribed yet ----
  // The client's GET (possibly on another replica) may subscribe after the first events are
  // ready. PUBLISH returns how many subscribers got the message: while that is 0 the events stay
  // buffered, and the whole buffer goes out as one JSON array on the next event or retry timer.
  // Normally the GET subscribes long before the first token, and no retry is ever needed.
  class Outbox {
    constructor(streamId) {
      this.channel = `stream:${streamId}`;
      this.buffer = [];
      this.sending = false;    // a PUBLISH is in flight: later events wait for it (keeps order)
      this.timer = null;       // the retry timer while nobody is subscribed
      this.retryMs = RETRY_MS;
      this.delivered = false;  // a PUBLISH has reached the reader
      this.closed = false;     // the events were given up: later ones are dropped too
      this.created = Date.now();
    }

    emit(event) {
      if (this.closed) return;
      this.buffer.push(event);
      if (!this.sending) this.flush();
    }

    async flush() {
      clearTimeout(this.timer);
      this.timer = null;
      this.sending = true;
      const batch = this.buffer;
      this.buffer = [];
      let received;
      try {
        received = await redis.publish(this.channel, JSON.stringify(batch.length === 1 ? batch[0] : batch));
      } catch {
        received = -1; // Redis unreachable: retried like a reader not subscribed yet
      }
      this.sending = false;
      if (received > 0) {
        this.delivered = true;
        if (this.buffer.length) this.flush();
      } else if ((received === 0 && this.delivered) || Date.now() - this.created > ORPHAN_MS) {
        // The reader came and left (the client closed its stream), or never came: the generation
        // goes on, as LibreChat's does, but its events are dropped.
        this.closed = true;
        this.buffer = [];
        m.errors.inc({ job: 'undelivered' });
      } else {
        this.buffer = batch.concat(this.buffer);
        this.timer = setTimeout(() => this.flush(), this.retryMs);
        this.retryMs = Math.min(2 * this.retryMs, RETRY_MAX_MS);
      }
    }
  }

  // ---- background jobs ----
  async function generate(streamId, body) {
    const out = new Outbox(streamId);
    m.open.inc();
    try {
      const started = process.hrtime.bigint();
      const res = await llmPost('/v1/chat', { conversation: body.conversation, text: body.text });
      let tokens = 0;
      let firstAt = 0n;
      let endAt = 0n;
      // SSE from the LLM, parsed incrementally: one event (one token) per "data: ..." block.
      await new Promise((resolve, reject) => {
        dist.onSseEvents(res, (event) => {
          if (event === 'data: [DONE]') {
            endAt = process.hrtime.bigint();
            return true;
          }
          if (tokens === 0) {
            firstAt = process.hrtime.bigint();
            m.ttft.observe(Number(firstAt - started) / 1e9);
          }
          let text;
          try {
            text = JSON.parse(event.slice(6)).t;
          } catch {
            res.destroy(new Error('LLM sent a malformed event')); // rejects through 'error'
            return false;
          }
          tokens++;
          burnAs('stream_delta', cpu.stream_delta());
          m.deltas.inc();
          out.emit({ type: 'delta', text });
          return true;
        });
        res.on('end', () => (endAt ? resolve() : reject(new Error('LLM stream ended without [DONE]'))));
        res.on('error', reject);
      });
      m.tokens.inc(tokens);
      if (tokens >= 2) m.rate.observe(tokens / (Number(endAt - firstAt) / 1e9));

      burnAs('token_count', cpu.token_count());
      if (extraWrites > 0) {
        const client = await pool.connect();
        try {
          // LibreChat's saves after a response: the answer, the conversation's timestamp, then
          // further updates of the saved message (token counts, metadata) up to extra_writes.
          const { rows } = await q(client, 'addMessage', [body.conversation, body.user, 'assistant', 'tok '.repeat(tokens), tokens]);
          if (extraWrites > 1) await q(client, 'touchConvo', [body.conversation]);
          for (let i = 2; i < extraWrites; i++) await q(client, 'setTokens', [rows[0].id, tokens]);
        } finally {
          client.release();
        }
      }
      out.emit({ type: 'done' });
    } catch {
      m.errors.inc({ job: 'stream' });
      out.emit({ type: 'error' });
    } finally {
      m.open.dec();
    }
  }

  async function makeTitle(conversation) {
    try {
      const res = await llmPost('/v1/title', {});
      let text = '';
      for await (const chunk of res) text += chunk;
      const { title } = JSON.parse(text);
      burnAs('title', cpu.title());
      await pool.query({ name: 'setTitle', text: Q.setTitle, values: [conversation, title] });
      m.titles.inc();
    } catch {
      m.errors.inc({ job: 'title' });
    }
  }

  // ---- SSE readers: one subscriber connection, one response per channel ----
  const readers = new Map(); // channel -> res
  sub.on('message', (channel, message) => {
    const res = readers.get(channel);
    if (!res) return;
    // A single delta, the common case, is written as it came, without a JSON round trip.
    if (message.startsWith('{"type":"delta"')) {
      res.write(`data: ${message}\n\n`);
      return;
    }
    const parsed = JSON.parse(message);
    for (const event of Array.isArray(parsed) ? parsed : [parsed]) {
      res.write(`data: ${JSON.stringify(event)}\n\n`);
      if (event.type === 'done' || event.type === 'error') {
        res.end();
        return; // the response's close handler unsubscribes
      }
    }
  });

  // ---- routes ----
  const app = express();
  app.disable('x-powered-by');

  // Registered before the request metrics, so scrapes are not counted.
  app.get('/metrics', async (req, res) => {
    res.set('Content-Type', prom.register.contentType);
    res.send(await prom.register.metrics());
  });

  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('close', () => {
      if (!req.route) return; // no route matched (404): not one of the request types
      const route = req.route.path;
      // A response the client abandoned (an SSE stream closed early) is labelled 499, as nginx logs it.
      const status = res.writableFinished ? res.statusCode : 499;
      m.requests.inc({ method: req.method, route, status });
      m.duration.observe({ method: req.method, route }, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  });
  app.use(express.json());

  const user = (value) => (typeof value === 'string' && value ? value : null);

  app.post('/api/agents/chat/openAI', async (req, res) => {
    const body = req.body || {};
    if (!user(body.user) || !user(body.conversation)) {
      res.status(400).json({ error: 'user and conversation are required' });
      return;
    }
    body.text = typeof body.text === 'string' ? body.text : '';
    const isNew = body.new === true;
    // The message's work and its token count, burned as one synchronous block.
    const message = cpu.message();
    const tokenCount = cpu.token_count();
    burn(message + tokenCount);
    burned.message.inc(message);
    burned.token_count.inc(tokenCount);
    await redisWork('incr', `rl:${body.user}`);
    const client = await pool.connect();
    try {
      await q(client, 'history', [body.conversation]);
      if (isNew) await q(client, 'newConvo', [body.conversation, body.user]);
      await q(client, 'addMessage', [body.conversation, body.user, 'user', body.text, Math.ceil(body.text.length / 4)]);
    } finally {
      client.release();
    }
    const streamId = crypto.randomUUID();
    res.json({ streamId });
    generate(streamId, body);
    if (isNew) makeTitle(body.conversation);
  });

  app.get('/api/agents/chat/stream/:streamId', (req, res) => {
    const channel = `stream:${req.params.streamId}`;
    res.setHeader('Content-Type', 'text/event-stream'); // setHeader: res.set would add "; charset=utf-8"
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Accel-Buffering', 'no'); // nginx: pass each event on at once
    res.flushHeaders();
    readers.set(channel, res);
    res.on('close', () => {
      readers.delete(channel);
      sub.unsubscribe(channel).catch(() => {});
    });
    sub.subscribe(channel).catch(() => res.end());
  });

  app.get('/api/convos', async (req, res) => {
    const who = user(req.query.user);
    if (!who) {
      res.status(400).json({ error: 'user is required' });
      return;
    }
    burnAs('api_read', cpu.api_read());
    await redisWork('incr', `rl:${who}`);
    const { rows } = await pool.query({ name: 'convos', text: Q.convos, values: [who] });
    res.json({ conversations: rows });
  });

  app.post('/api/auth/refresh', async (req, res) => {
    const who = user((req.body || {}).user);
    if (!who) {
      res.status(400).json({ error: 'user is required' });
      return;
    }
    burnAs('refresh', cpu.refresh());
    const token = crypto.randomBytes(24).toString('base64url');
    await redisWork('set', `sess:${who}`, token, 'EX', 900);
    res.json({ token });
  });

  // A failed database or Redis call in a route: a 500 with a short message (no stack trace).
  app.use((err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    res.status(err.status || 500).json({ error: err.expose ? err.message : 'internal error' });
  });

  return (async () => {
    await createSchema();
    await Promise.all([redis.ping(), sub.ping()]);
    const server = app.listen(Number(opts.port), '127.0.0.1');
    await new Promise((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    server.on('connection', () => m.connections.inc());
    // Longer than a proxy's idle keep-alive, so the proxy, not the API, closes idle connections.
    server.keepAliveTimeout = 65000;
    server.headersTimeout = 66000;
    console.log(`ready ${opts.port}`);
  })();
}

dist.run(main);
