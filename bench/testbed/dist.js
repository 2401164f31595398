'use strict';
// Shared random samplers for the testbed: a seedable PRNG and the four distribution kinds of the
// config ({"kind", "mean", "cv"}, times in seconds), plus the command-line and config helpers the
// three programs share. `node dist.js --selftest` checks the moments of every kind.

const fs = require('node:fs');

const KINDS = new Set(['exponential', 'lognormal', 'gamma', 'deterministic']);

// sfc32 (PractRand-clean, period >= 2^32, in practice ~2^127) seeded through splitmix32, so that
// nearby seeds (pids) give unrelated streams.
function makeRng(seed) {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a, b, c, d; // set by reseed()
  let spare = null; // Box-Muller makes normals in pairs: the second one is kept for the next call
  const rng = {
    // uniform in the open interval (0, 1): never 0, so log(u) is always finite
    uniform() {
      const t = (((a + b) >>> 0) + d) >>> 0;
      d = (d + 1) >>> 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) >>> 0;
      c = ((c << 21) | (c >>> 11)) >>> 0;
      c = (c + t) >>> 0;
      return (t + 0.5) / 4294967296;
    },
    normal() {
      if (spare !== null) {
        const z = spare;
        spare = null;
        return z;
      }
      const r = Math.sqrt(-2 * Math.log(rng.uniform()));
      const theta = 2 * Math.PI * rng.uniform();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
    reseed(newSeed) {
      s = newSeed >>> 0;
      a = splitmix(); b = splitmix(); c = splitmix(); d = splitmix();
      spare = null;
      for (let i = 0; i < 12; i++) rng.uniform(); // sfc32's recommended warm-up
    },
  };
  rng.reseed(seed);
  return rng;
}

// One generator per process, seeded from the pid until the program calls seed(--seed).
const shared = makeRng(process.pid);

function seed(s) {
  shared.reseed(s);
}

// Marsaglia & Tsang (2000) for shape k >= 1; for k < 1, Gamma(k) = Gamma(k + 1) * U^(1/k).
function gammaUnit(rng, k) {
  if (k < 1) return gammaUnit(rng, k + 1) * Math.pow(rng.uniform(), 1 / k);
  const d = k - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    let v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const u = rng.uniform();
    const x2 = x * x;
    if (u < 1 - 0.0331 * x2 * x2) return d * v;
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

// Throws a one-line error naming `where` when `dist` is not a valid distribution.
function check(dist, where) {
  if (!dist || typeof dist !== 'object') throw new Error(`${where}: not a distribution object`);
  if (!KINDS.has(dist.kind)) throw new Error(`${where}: kind must be one of ${[...KINDS].join(', ')}`);
  if (typeof dist.mean !== 'number' || !Number.isFinite(dist.mean) || dist.mean < 0) {
    throw new Error(`${where}: mean must be a finite number >= 0`);
  }
  if (dist.kind === 'lognormal' || dist.kind === 'gamma') {
    if (typeof dist.cv !== 'number' || !Number.isFinite(dist.cv) || dist.cv < 0) {
      throw new Error(`${where}: ${dist.kind} needs a finite cv >= 0`);
    }
  }
}

// A function drawing one value of `dist`. A mean of 0, or a cv of 0, always gives the mean.
function sampler(dist, rng = shared, where = 'distribution') {
  check(dist, where);
  const mean = dist.mean;
  if (mean === 0 || dist.kind === 'deterministic' || dist.cv === 0) return () => mean;
  if (dist.kind === 'exponential') return () => -mean * Math.log(rng.uniform());
  if (dist.kind === 'lognormal') {
    const sigma2 = Math.log(1 + dist.cv * dist.cv);
    const sigma = Math.sqrt(sigma2);
    const mu = Math.log(mean) - sigma2 / 2;
    return () => Math.exp(mu + sigma * rng.normal());
  }
  const k = 1 / (dist.cv * dist.cv);
  const scale = mean / k;
  return () => scale * gammaUnit(rng, k);
}

// "--name value" options into an object; `known` maps each accepted name to true (required) or
// false (optional). Unknown or missing options throw.
function parseArgs(argv, known) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : null;
    if (name === null || !(name in known)) throw new Error(`unknown argument ${argv[i]}`);
    if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
    opts[name] = argv[++i];
  }
  for (const [name, required] of Object.entries(known)) {
    if (required && !(name in opts)) throw new Error(`--${name} is required`);
  }
  return opts;
}

// The config file as an object with every distribution checked; `sections` names the parts a
// program uses (e.g. ['cpu', 'llm']), and those become objects of samplers.
function loadConfig(path, sections) {
  const config = JSON.parse(fs.readFileSync(path, 'utf8'));
  const samplers = {};
  for (const section of sections) {
    if (!config[section] || typeof config[section] !== 'object') throw new Error(`${path}: no "${section}" object`);
    samplers[section] = {};
    for (const [name, d] of Object.entries(config[section])) {
      samplers[section][name] = sampler(d, shared, `${path}: ${section}.${name}`);
    }
  }
  return { config, samplers };
}

// Runs a program's main(), printing a failure as one line on stderr with exit code 2.
function run(main) {
  Promise.resolve().then(main).catch((err) => {
    process.stderr.write(`error: ${err && err.message ? err.message : err}\n`);
    process.exit(2);
  });
}

function selftest() {
  const N = 200000;
  const cases = [
    { kind: 'exponential', mean: 0.02 },
    { kind: 'lognormal', mean: 0.8, cv: 0.5 },
    { kind: 'lognormal', mean: 60, cv: 1 },
    { kind: 'gamma', mean: 40, cv: 0.3 },
    { kind: 'gamma', mean: 2, cv: 2 }, // shape 0.25: the k < 1 branch
    { kind: 'deterministic', mean: 0.0004, cv: 0.7 },
  ];
  let failed = 0;
  for (const dist of cases) {
    const draw = sampler(dist, makeRng(12345));
    let sum = 0, sum2 = 0;
    for (let i = 0; i < N; i++) {
      const x = draw();
      sum += x;
      sum2 += x * x;
    }
    const mean = sum / N;
    const cv = Math.sqrt(Math.max(0, sum2 / N - mean * mean)) / mean;
    const wantCv = dist.kind === 'exponential' ? 1 : dist.kind === 'deterministic' ? 0 : dist.cv;
    const meanErr = Math.abs(mean / dist.mean - 1);
    const cvErr = wantCv === 0 ? cv : Math.abs(cv / wantCv - 1);
    const ok = meanErr <= 0.02 && cvErr <= 0.02;
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${JSON.stringify(dist)}: mean ${mean.toPrecision(5)} ` +
      `(${(100 * meanErr).toFixed(2)}% off), cv ${cv.toPrecision(4)} (want ${wantCv})`);
  }
  console.log(`${cases.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) {
  if (process.argv[2] === '--selftest') selftest();
  else {
    console.error('usage: node dist.js --selftest');
    process.exitCode = 2;
  }
}

// Calls onEvent(text) for each Server-Sent Event (a block ending in a blank line) of a response,
// parsed incrementally as chunks arrive; onEvent returns false to stop reading.
function onSseEvents(res, onEvent) {
  let pending = '';
  res.on('data', (chunk) => {
    pending += chunk;
    let cut;
    while ((cut = pending.indexOf('\n\n')) >= 0) {
      const event = pending.slice(0, cut);
      pending = pending.slice(cut + 2);
      if (onEvent(event) === false) return;
    }
  });
}

module.exports = { makeRng, seed, sampler, parseArgs, loadConfig, run, onSseEvents };
