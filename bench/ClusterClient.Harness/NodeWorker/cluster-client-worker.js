'use strict';
// A Node cluster-client 3.7.0 worker speaking the harness's line protocol (see LineHost.cs):
// the same echo client and the same commands as the .NET worker, so both are measured alike.
// Run with NODE_PATH pointing at the node_modules the harness installed (bench/node/node_modules).
const fs = require('fs');
const readline = require('readline');
const Base = require('sdk-base');
const cluster = require('cluster-client');

const now = () => Number(process.hrtime.bigint()); // CLOCK_MONOTONIC ns, as .NET's Stopwatch on Linux
const reply = line => process.stdout.write(line + '\n');
const logger = {
  info() {}, debug() {},
  warn(...a) { process.stderr.write('[warn] ' + a.join(' ') + '\n'); },
  error(...a) { process.stderr.write('[error] ' + a.map(String).join(' ') + '\n'); },
};

class EchoClient extends Base {
  constructor() {
    super();
    this._listeners = new Map();
    this.ready(true);
  }
  async echo(value) { return value; }
  subscribe(reg, listener) {
    const list = this._listeners.get(reg.topic) || [];
    list.push(listener);
    this._listeners.set(reg.topic, list);
  }
  unSubscribe(reg, listener) {
    const list = (this._listeners.get(reg.topic) || []).filter(l => listener && l !== listener);
    this._listeners.set(reg.topic, list);
  }
  publish(reg) {
    for (const l of this._listeners.get(reg.topic) || []) l(reg);
  }
}

const port = Number(process.argv[2]);
const client = cluster(EchoClient, { port, logger, maxWaitTime: 60000, responseTimeout: 10000 }).create();
const received = [];
let warmupReceived = 0;
let subscribed = false;
const calls = []; // [start, end, ok] of the failover loop
let looping = false;

async function sequential(count, warmup, path) {
  for (let i = 0; i < warmup; i++) await client.echo(i);
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await client.echo(i);
    out[i] = Number(process.hrtime.bigint() - start);
  }
  fs.writeFileSync(path, out.join('\n') + '\n');
  return String(count);
}

async function throughput(seconds, inflight) {
  const warmEnd = now() + 5e8;
  await Promise.all(Array.from({ length: inflight }, async () => { let i = 0; while (now() < warmEnd) await client.echo(i++); }));
  const start = now();
  const end = start + seconds * 1e9;
  let total = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    let n = 0;
    while (now() < end) { await client.echo(n); n++; }
    total += n;
  }));
  return `${total} ${now() - start}`;
}

async function publish(count, intervalUs, first) {
  let next = now();
  for (let i = 0; i < count; i++) {
    // Sleep, never spin (as the .NET worker): timers have 1 ms granularity.
    const wait = next - now();
    if (wait > 0) await new Promise(r => setTimeout(r, Math.max(1, Math.round(wait / 1e6))));
    client.publish({ topic: 'ticks', seq: first < 0 ? first - i : first + i, t: now() });
    next += intervalUs * 1000;
  }
  return String(count);
}

function loop() {
  if (looping) return;
  looping = true;
  (async () => {
    let i = 0;
    while (looping) {
      const start = now();
      let ok = true;
      try { await client.echo(i++); } catch (e) { ok = false; }
      calls.push([start, now(), ok]);
      if (calls.length > 1 << 20) calls.splice(0, 1 << 19);
      if (!ok) await new Promise(r => setTimeout(r, 1));
      // On the leader the call resolves without I/O; yield so stdin commands are still served.
      else await new Promise(r => setImmediate(r));
    }
  })();
}

function since(t) {
  let lo = 0, hi = calls.length;
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (calls[mid][1] >= t) hi = mid; else lo = mid + 1; }
  let failures = 0;
  for (let i = lo; i < calls.length; i++) {
    const [start, end, ok] = calls[i];
    if (!ok) { failures++; continue; }
    if (start >= t) return `${end} ${failures}`;
  }
  return `-1 ${failures}`;
}

async function handle(c) {
  switch (c[0]) {
    case 'role': return String(isLeader());
    case 'seq': return sequential(Number(c[1]), Number(c[2]), c[3]);
    case 'tput': return throughput(Number(c[1]), Number(c[2]));
    case 'sub':
      if (!subscribed) {
        subscribed = true;
        client.subscribe({ topic: 'ticks' }, v => {
          const t = now();
          if (v.seq < 0) warmupReceived++; else received.push(`${v.seq} ${t - v.t}`);
        });
      }
      return 'subscribed';
    case 'subcount': return String(warmupReceived);
    case 'pub': return publish(Number(c[1]), Number(c[2]), Number(c[3]));
    case 'pubreport': {
      fs.writeFileSync(c[1], received.join('\n') + (received.length ? '\n' : ''));
      const n = received.length; received.length = 0; return String(n);
    }
    case 'loop': loop(); return 'looping';
    case 'since': return since(Number(c[1]));
    case 'mem': {
      if (global.gc) { global.gc(); global.gc(); }
      const m = process.memoryUsage();
      return `${m.rss} ${m.heapUsed}`;
    }
    default: throw new Error(`unknown command '${c[0]}'`);
  }
}

function isLeader() { return client.isClusterClientLeader ? 1 : 0; }

(async () => {
  await client.ready();
  reply(`ready ${now()} ${isLeader()} ${process.pid}`);
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const c = line.split(' ').filter(Boolean);
    if (c.length === 0) continue;
    if (c[0] === 'exit') break;
    try { reply('ok ' + await handle(c)); } catch (e) { reply('err ' + String(e && e.message || e).replace(/\s+/g, ' ')); }
  }
  looping = false;
  process.exit(0);
})().catch(e => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
