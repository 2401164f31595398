'use strict';
// Mock LLM provider. POST /v1/chat streams T tokens over SSE: the first after time_to_first_token,
// then one every 1/token_rate seconds, then "data: [DONE]" one interval after the last token.
// POST /v1/title answers after title_call seconds. Only timers: thousands of streams cost little.
//
//   node mockllm.js --config PATH --port N [--seed S]

const http = require('node:http');
const { performance } = require('node:perf_hooks');
const dist = require('./dist.js');

const TOKEN = 'data: {"t":"tok "}\n\n';
const DONE = 'data: [DONE]\n\n';

function main() {
  const opts = dist.parseArgs(process.argv.slice(2), { config: true, port: true, seed: false });
  dist.seed(opts.seed !== undefined ? Number(opts.seed) : process.pid);
  const llm = dist.loadConfig(opts.config, ['llm']).samplers.llm;
  for (const name of ['time_to_first_token', 'output_tokens', 'token_rate', 'title_call']) {
    if (!llm[name]) throw new Error(`${opts.config}: no llm.${name}`);
  }

  function chat(res) {
    const start = performance.now();
    const ttft = llm.time_to_first_token();
    const tokens = Math.max(1, Math.round(llm.output_tokens()));
    const rate = llm.token_rate();
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    let sent = 0;
    let timer = null;
    // Each delay is computed from the stream's start, so timer lateness does not accumulate.
    const schedule = (atSeconds) => {
      timer = setTimeout(step, Math.max(0, start + atSeconds * 1000 - performance.now()));
    };
    const step = () => {
      if (sent < tokens) {
        res.write(TOKEN);
        sent++;
        schedule(ttft + sent / rate);
      } else {
        timer = null;
        res.end(DONE);
      }
    };
    res.on('close', () => clearTimeout(timer)); // the caller went away: stop the stream
    schedule(ttft);
  }

  function title(res) {
    setTimeout(() => {
      const body = JSON.stringify({ title: 'A generated conversation title' });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    }, llm.title_call() * 1000);
  }

  const server = http.createServer((req, res) => {
    req.resume(); // the request body (the prompt) is not used
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/chat') chat(res);
      else if (req.method === 'POST' && req.url === '/v1/title') title(res);
      else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found\n');
      }
    });
  });
  // Idle keep-alive sockets stay open until the API server's agent closes them: a mock that closed
  // them itself could race a request being sent on the same socket (ECONNRESET on the API side).
  server.keepAliveTimeout = 0;
  server.listen(Number(opts.port), '127.0.0.1', () => console.log(`ready ${opts.port}`));
}

dist.run(main);
