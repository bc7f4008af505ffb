// Browser end-to-end tests of eventstreams, run with node's built-in test runner:
//
//   node run.mjs PATH/TO/eventstreams [ARTIFACTS_DIR]
//   (or EVENTSTREAMS_BIN / EVENTSTREAMS_ARTIFACTS in the environment)
//
// Each test starts its own daemon (embedded Kafka, port 0) with its own configuration, writes
// events with kcat where it needs known ones, and drives Debian's headless Chromium through
// playwright-core (no browser download). The eventsource npm package is the non-browser client.
//   (a) /v2/ui lists the streams, shows live events, rate, Last-Event-ID, filter, pause,
//       escapes event text; screenshots at 1280x800 (also dark) and 375x812 go to ARTIFACTS_DIR.
//   (b) a plain EventSource receives exactly the 50 events produced after it opened.
//   (c) with max_connection_duration 2s the browser reconnects by itself with Last-Event-ID,
//       at least 3 times, and receives every event produced meanwhile exactly once.
//   (d) the eventsource library reads, closes, resumes with Last-Event-ID: no gap, no repeat.
//   (e) an idle stream that the server ends every 2 s: the eventsource library reconnects by
//       itself with the id of the start block, and events that begin to arrive across the
//       ends are each received exactly once.
//   (f) /v2/ui's server filter box shows the server's canonical form or its 400 detail, and the
//       page's stream, with the filter percent-encoded in its URL, receives only what matches;
//       screenshot ui-filter.png.
//   (g) with a filter that skips every record, the keepalive's id-only block moves a browser
//       EventSource's position without a message event: its automatic reconnect, after a cut
//       that the daemon did not make, carries that block's id as Last-Event-ID.
//   (h) a Last-Event-ID offset the partition no longer has: the browser's
//       addEventListener("gap") receives the gap event (docs/api.md §5.4), onmessage does not,
//       and the events that follow reach onmessage as usual.
//   (i) two daemons on one cluster behind a proxy that switches from A to B when A gets SIGTERM:
//       A ends the stream after a complete block with one `retry:` inside its 3 s window; the
//       browser reconnects to B no earlier than that, with A's last id, and every event produced
//       across the switch arrives exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile, mkdir, rm } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { EventSource } from 'eventsource';

const BIN = resolve(process.argv[2] || process.env.EVENTSTREAMS_BIN || '');
const ARTIFACTS = resolve(process.argv[3] || process.env.EVENTSTREAMS_ARTIFACTS || 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

if (!process.argv[2] && !process.env.EVENTSTREAMS_BIN) {
  console.error('usage: node run.mjs PATH/TO/eventstreams [ARTIFACTS_DIR]');
  process.exit(2);
}

// ---------------------------------------------------------------- helpers

const daemons = new Set();
let browser;
let workdir;

/** Resolves with the value of `fn()` once it is truthy; polls every `every` ms, fails after `ms`. */
async function until(what, fn, ms = 15000, every = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise(r => setTimeout(r, every));
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** Starts the daemon with `yaml`; resolves once it printed its Kafka bootstrap and its port. */
async function startDaemon(name, yaml) {
  const cfg = join(workdir, `${name}.yaml`);
  await writeFile(cfg, yaml);
  const log = createWriteStream(join(ARTIFACTS, `daemon-${name}.log`));
  const proc = spawn(BIN, ['--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const d = { name, proc, exited: false };
  daemons.add(d);
  let out = '';
  proc.stdout.on('data', b => { out += b; log.write(b); });
  proc.stderr.on('data', b => log.write(b));
  d.exit = new Promise(r => proc.on('exit', code => { d.exited = true; r(code); }));
  await until(`daemon ${name} to listen`, () => {
    if (d.exited) throw new Error(`daemon ${name} exited; see ${join(ARTIFACTS, `daemon-${name}.log`)}`);
    const port = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/m.exec(out);
    const boot = /^embedded kafka bootstrap\.servers=(\S+)$/m.exec(out);
    // A daemon that reads another one's cluster prints no bootstrap of its own.
    const embedded = /bootstrap_servers: embedded/.test(yaml);
    if (port && (boot || !embedded)) { d.base = `http://127.0.0.1:${port[1]}`; d.bootstrap = boot?.[1]; }
    return port && (boot || !embedded);
  }, 20000);
  return d;
}

async function stopDaemon(d) {
  if (!d || !daemons.has(d)) return;
  daemons.delete(d);
  if (!d.exited) d.proc.kill('SIGTERM');
  const code = await Promise.race([d.exit, new Promise(r => setTimeout(() => r('timeout'), 10000))]);
  if (code === 'timeout') { d.proc.kill('SIGKILL'); await d.exit; }
}

/**
 * A kcat producer on `topic`; send() writes one JSON event per line, end() waits for delivery.
 * Each event is keyed (by its seq when it has one) so that the partitioner spreads them over the
 * partitions by key hash: without keys, librdkafka's sticky partitioner may put a whole burst
 * into one partition.
 */
function producer(d, topic) {
  let n = 0;
  const p = spawn('kcat', ['-P', '-b', d.bootstrap, '-t', topic, '-K', '\t', '-X', 'linger.ms=1'],
    { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', b => { err += b; });
  const done = new Promise((res, rej) => {
    p.on('error', rej);
    p.on('exit', code => (code === 0 ? res() : rej(new Error(`kcat exited ${code}: ${err}`))));
  });
  return {
    send(obj) { p.stdin.write(`key-${obj.seq ?? `x${n++}`}\t${JSON.stringify(obj)}\n`); },
    end() { p.stdin.end(); return withTimeout(done, 15000, 'kcat to deliver'); },
  };
}

async function produceAll(d, topic, events) {
  const k = producer(d, topic);
  for (const e of events) k.send(e);
  await k.end();
}

const seqEvent = (run, seq) => ({ $schema: '/test/seq/1.0.0', meta: { domain: 'seq.test', dt: new Date().toISOString() },
  type: 'test', run, seq, title: `${run}-${seq}` });

/**
 * Checks that `got` (objects with seq, topic, partition, offset, in arrival order) holds every
 * seq of `0..n-1` exactly once, in production order and with contiguous offsets per partition.
 */
function assertExactlyOnce(got, n) {
  const seqs = got.map(g => g.seq);
  const dupes = seqs.filter((s, i) => seqs.indexOf(s) !== i);
  assert.deepEqual(dupes, [], 'no event received twice');
  const missing = [...Array(n).keys()].filter(s => !seqs.includes(s));
  assert.deepEqual(missing, [], 'no event missing');
  assert.equal(got.length, n, 'nothing else received');
  const last = new Map();
  for (const g of got) {
    const key = `${g.topic}/${g.partition}`;
    const prev = last.get(key);
    if (prev) {
      assert.ok(g.seq > prev.seq, `order in ${key}: seq ${prev.seq} then ${g.seq}`);
      assert.equal(g.offset, prev.offset + 1, `contiguous offsets in ${key}`);
    }
    last.set(key, g);
  }
  return last.size;  // partitions seen
}

/**
 * Opens a same-origin page and an EventSource on `path` in it; resolves on `open`. The page is
 * /v2/ui: every other response carries `Content-Security-Policy: default-src 'none'` (as the
 * original service's do), which forbids a page to connect anywhere; /v2/ui's own policy allows
 * its origin.
 */
async function browserSource(d, path) {
  const page = await browser.newPage();
  await page.goto(`${d.base}/v2/ui`);
  await page.evaluate(url => new Promise((res, rej) => {
    window.__got = []; window.__opens = 0; window.__errors = 0; window.__ids = [];
    const es = new EventSource(url);
    window.__es = es;
    es.onopen = () => { window.__opens++; res(); };
    es.onerror = () => { window.__errors++; };
    es.onmessage = e => {
      const ev = JSON.parse(e.data);
      window.__got.push({ seq: ev.seq, end: ev.end === true, topic: ev.meta.topic,
        partition: ev.meta.partition, offset: ev.meta.offset });
      window.__ids.push(e.lastEventId);
    };
    setTimeout(() => rej(new Error('EventSource did not open within 15 s')), 15000);
  }), `${d.base}${path}`);
  return page;
}

before(async () => {
  assert.ok(existsSync(BIN), `no daemon binary at ${BIN}`);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  await mkdir(ARTIFACTS, { recursive: true });
  workdir = await mkdtemp(join(tmpdir(), 'eventstreams-browser-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  for (const d of [...daemons]) await stopDaemon(d);
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

process.on('exit', () => { for (const d of daemons) if (!d.exited) d.proc.kill('SIGKILL'); });

// ---------------------------------------------------------------- (a) the /v2/ui page

test('(a) /v2/ui shows live events, rate, Last-Event-ID, filter, pause; screenshots', { timeout: 90000 }, async () => {
  const d = await startDaemon('ui', `
server: {listen: "127.0.0.1:0", heartbeat_interval: 2s}
kafka:
  bootstrap_servers: embedded
  properties: {fetch.wait.max.ms: 50}
  embedded: {brokers: 1, partitions: 1, demo_rate: 10}
streams:
  recentchange:
    topics: [eqiad.mediawiki.recentchange, codfw.mediawiki.recentchange]
    description: "Edits and log actions on all wikis"
    aliases: [rc]
    schema_title: mediawiki/recentchange
  page-create:
    topics: [eqiad.mediawiki.page-create, codfw.mediawiki.page-create]
    description: "Pages created on all wikis"
    schema_title: mediawiki/revision/create
  revision-score:
    topics: [eqiad.mediawiki.revision-score]
    description: "Machine-learning scores of new revisions, one event per revision and model"
`);
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems = [];
    page.on('pageerror', e => problems.push(`page error: ${e.message}`));
    page.on('console', m => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('request', r => { if (!r.url().startsWith(d.base) && !r.url().startsWith('data:')) problems.push(`foreign request ${r.url()}`); });
    await page.addInitScript(() => document.addEventListener('securitypolicyviolation',
      e => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));

    const res = await page.goto(`${d.base}/v2/ui`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-security-policy'] || '', /default-src 'self'/);

    // The stream list, with descriptions, from /v2/streams.
    const box = page.locator('#streams input[data-stream="recentchange"]');
    await box.waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#streams input[type=checkbox]').count(), 3);
    const listText = await page.locator('#streams').innerText();
    assert.match(listText, /Edits and log actions on all wikis/);
    assert.match(listText, /Pages created on all wikis/);
    assert.ok(await page.locator('#toggle').isDisabled(), 'Watch is disabled with nothing selected');

    // Watch recentchange.
    await box.check();
    await page.locator('#toggle').click();
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 15000 });
    await page.waitForFunction(() => document.querySelectorAll('#events > li').length >= 5, null, { timeout: 15000 });
    const firstRow = await page.locator('#events > li').first().innerText();
    assert.match(firstRow, /recentchange/);
    assert.match(firstRow, /\d\d:\d\d:\d\d/);
    assert.match(firstRow, /wikipedia\.org|wikidata\.org|wikimedia\.org/);
    assert.match(firstRow, /Demo_page_\d+/);
    assert.match(firstRow, /edit|new|log|categorize/);

    // Rate and Last-Event-ID update.
    await page.waitForFunction(() => parseFloat(document.querySelector('#rate').textContent) > 0, null, { timeout: 10000 });
    const id1 = await page.locator('#last-id').textContent();
    const parsed = JSON.parse(id1);
    assert.deepEqual(parsed.map(e => e.topic), ['eqiad.mediawiki.recentchange', 'codfw.mediawiki.recentchange']);
    await page.waitForFunction(prev => document.querySelector('#last-id').textContent !== prev, id1, { timeout: 10000 });
    // The Last-Event-ID shows on arrival, rows are drawn on the next animation frame: once a
    // frame has drawn them, the newest row is first and its id is the Last-Event-ID. Events keep
    // arriving, so both are read in one evaluation, at a frame where they were drawn (polled on
    // animation frames; 10 s only ends a test that is failing).
    await page.waitForFunction(() => {
      const row = document.querySelector('#events > li');
      return row !== null && row.dataset.id === document.querySelector('#last-id').textContent;
    }, null, { timeout: 10000, polling: 'raf' }).catch(async () => {
      assert.equal(await page.locator('#events > li').first().getAttribute('data-id'),
        await page.locator('#last-id').textContent(), 'newest row first, its id is the Last-Event-ID');
    });

    // Event text is escaped: markup in an event shows as text and creates no element.
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
    await produceAll(d, 'eqiad.mediawiki.recentchange',
      [{ meta: { domain: 'xss.test' }, type: 'edit', title: evil, comment: '</pre><script>window.__pwned=2</script>' }]);
    const evilRow = page.locator('#events > li', { hasText: 'xss.test' });
    await evilRow.waitFor({ timeout: 10000 });
    assert.ok((await evilRow.innerText()).includes(evil));
    await evilRow.locator('summary').click();
    await evilRow.locator('pre').waitFor({ timeout: 5000 });
    assert.equal(JSON.parse(await evilRow.locator('pre').textContent()).comment, '</pre><script>window.__pwned=2</script>');
    assert.equal(await page.locator('#events img, #events b, #events script').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);

    // Filter: a substring of the event JSON.
    await page.locator('#filter').fill('xss.test');
    await page.waitForFunction(() => document.querySelectorAll('#events > li').length === 1, null, { timeout: 5000 });
    assert.equal(await page.locator('#shown').textContent(), '1');
    await page.locator('#filter').fill('');
    await page.waitForFunction(() => document.querySelectorAll('#events > li').length > 1, null, { timeout: 5000 });

    // Pause: rows stop changing while the count goes on; resume renders what came meanwhile.
    await page.locator('#pause').click();
    assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'true');
    const frozen = await page.locator('#events > li').first().getAttribute('data-id');
    const count0 = Number(await page.locator('#count').textContent());
    await page.waitForFunction(c => Number(document.querySelector('#count').textContent) >= c + 5, count0, { timeout: 10000 });
    assert.equal(await page.locator('#events > li').first().getAttribute('data-id'), frozen, 'paused list is frozen');
    assert.match(await page.locator('#pause').textContent(), /Resume \(\d+ new\)/);
    await page.locator('#pause').click();
    const fresh = await page.locator('#events > li').first().getAttribute('data-id');
    assert.notEqual(fresh, frozen, 'resume shows the events received while paused');
    assert.ok(await page.locator('#events > li').count() <= 200, 'bounded list');

    // Add a second stream (the connection restarts on both), open one row, take the screenshots.
    await page.locator('#streams input[data-stream="page-create"]').check();
    await page.waitForFunction(() => document.querySelector('#last-id').textContent.includes('page-create'), null, { timeout: 15000 });
    await page.waitForFunction(() => [...document.querySelectorAll('#events .s')].filter(s => s.textContent === 'page-create').length >= 2, null, { timeout: 15000 });
    await page.waitForFunction(() => document.querySelectorAll('#events > li').length >= 30, null, { timeout: 15000 });
    await page.locator('#pause').click();  // a still picture
    await page.locator('#events > li summary').nth(2).click();
    await page.locator('#events > li pre').first().waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, 'ui.png') });

    await page.setViewportSize({ width: 375, height: 812 });
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
    assert.ok(widths.scroll <= widths.client, `no horizontal scroll at 375 px (${widths.scroll} > ${widths.client})`);
    await page.screenshot({ path: join(ARTIFACTS, 'ui-mobile.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-dark.png') });

    // Stop closes the connection.
    await page.locator('#toggle').click();
    await page.locator('#status[data-state="idle"]').waitFor({ timeout: 5000 });
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (b) known events in order

const SEQ_CONFIG = (extra, partitions = 2) => `
server: {listen: "127.0.0.1:0", heartbeat_interval: 1s${extra}}
kafka:
  bootstrap_servers: embedded
  properties: {fetch.wait.max.ms: 20}
  embedded: {brokers: 1, partitions: ${partitions}, demo_rate: 0}
streams:
  seq: {topics: [eqiad.seq, codfw.seq], description: "test events"}
`;

test('(b) a browser EventSource receives exactly the events produced after it opened', { timeout: 60000 }, async () => {
  const d = await startDaemon('exact', SEQ_CONFIG(''));
  try {
    const page = await browserSource(d, '/v2/stream/seq');
    const N = 50;
    await produceAll(d, 'eqiad.seq', [...Array(N).keys()].map(n => seqEvent('b', n)));
    await produceAll(d, 'eqiad.seq', [{ meta: { domain: 'seq.test' }, end: true }]);  // sentinel
    await page.waitForFunction(() => window.__got.some(g => g.end), null, { timeout: 15000 });
    // Every event produced before the sentinel came before it in its own partition; wait for both.
    await page.waitForFunction(n => window.__got.filter(g => !g.end).length >= n, N, { timeout: 15000 }).catch(() => {});
    const got = (await page.evaluate(() => window.__got)).filter(g => !g.end);
    const partitions = assertExactlyOnce(got, N);
    assert.equal(partitions, 2, 'the events went to both partitions');
    const ids = await page.evaluate(() => window.__ids);
    assert.equal(JSON.parse(ids.at(-1)).length, 4, 'ids name every assigned partition');
    assert.equal(await page.evaluate(() => window.__opens), 1);
    await page.close();
  } finally {
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (c) reconnects

test('(c) the browser reconnects with Last-Event-ID after max_connection_duration and loses nothing', { timeout: 120000 }, async () => {
  const d = await startDaemon('reconnect', SEQ_CONFIG(', max_connection_duration: 2s'));
  try {
    const page = await browserSource(d, '/v2/stream/seq');
    const k1 = producer(d, 'eqiad.seq');
    const k2 = producer(d, 'codfw.seq');
    const t0 = Date.now();
    let n = 0;
    // One event every 25 ms, alternating topics, until the page reopened 3 times and 8 s passed.
    await until('3 reconnects', async () => {
      for (let i = 0; i < 2; i++, n++) (n % 2 ? k2 : k1).send(seqEvent('c', n));
      const opens = await page.evaluate(() => window.__opens);
      return opens >= 4 && Date.now() - t0 >= 8000;
    }, 60000, 50);
    k1.send({ meta: { domain: 'seq.test' }, end: true });
    k2.send({ meta: { domain: 'seq.test' }, end: true });
    await Promise.all([k1.end(), k2.end()]);
    await page.waitForFunction(() => window.__got.filter(g => g.end).length === 2, null, { timeout: 20000 });
    await page.waitForFunction(n => window.__got.filter(g => !g.end).length >= n, n, { timeout: 15000 }).catch(() => {});
    const got = (await page.evaluate(() => window.__got)).filter(g => !g.end);
    const opens = await page.evaluate(() => window.__opens);
    assert.ok(opens >= 4, `reconnected ${opens - 1} times`);
    assert.ok(n >= 100, `produced ${n}`);
    assertExactlyOnce(got, n);
    console.log(`# (c) ${n} events over ${opens - 1} reconnects in ${((Date.now() - t0) / 1000).toFixed(1)} s, each exactly once`);
    await page.close();
  } finally {
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (d) the eventsource library

/**
 * Reads `url` with the eventsource library, sending `lastEventId` as Last-Event-ID when given.
 * `onEvent(ev, lastEventId)` returns true to stop; `done` resolves then (or after `ms`, with
 * whatever was read, so that the assertions tell what is missing).
 */
function libraryRead(url, lastEventId, onEvent, ms = 20000) {
  const es = new EventSource(url, {
    fetch: (input, init) => fetch(input, {
      ...init,
      headers: lastEventId ? { ...init.headers, 'Last-Event-ID': lastEventId } : init.headers,
    }),
  });
  const opened = new Promise(r => { es.onopen = r; });
  const done = new Promise(res => {
    let over = false;
    const finish = () => { if (!over) { over = true; clearTimeout(timer); es.close(); res(); } };
    const timer = setTimeout(finish, ms);
    es.onmessage = e => { if (!over && onEvent(JSON.parse(e.data), e.lastEventId)) finish(); };
  });
  return { opened: withTimeout(opened, 15000, 'the eventsource client to open'), done };
}

test('(d) the eventsource npm client resumes with Last-Event-ID without gap or repeat', { timeout: 60000 }, async () => {
  const d = await startDaemon('library', SEQ_CONFIG(''));
  try {
    const url = `${d.base}/v2/stream/seq`;
    const N = 40, FIRST = 15;
    const first = [], second = [];
    let lastId = '';
    const one = ev => ({ seq: ev.seq, end: ev.end === true, topic: ev.meta.topic, partition: ev.meta.partition, offset: ev.meta.offset });

    const read1 = libraryRead(url, '', (ev, id) => { first.push(one(ev)); lastId = id; return first.length === FIRST; });
    await read1.opened;
    await produceAll(d, 'eqiad.seq', [...Array(N).keys()].map(n => seqEvent('d', n)));
    await read1.done;
    assert.equal(first.length, FIRST);

    // Resume: the rest of the 40, then a sentinel produced after the second connection opened.
    // The sentinel can overtake events of the other partition, so read until both are in.
    const read2 = libraryRead(url, lastId, ev => {
      second.push(one(ev));
      return second.some(g => g.end) && second.filter(g => !g.end).length >= N - FIRST;
    });
    await read2.opened;
    await produceAll(d, 'eqiad.seq', [{ meta: { domain: 'seq.test' }, end: true }]);
    await read2.done;
    const rest = second.filter(g => !g.end);
    assert.equal(rest.length, N - FIRST, `second read got ${rest.length} events before the sentinel`);
    assertExactlyOnce([...first, ...rest], N);

    // The first event after the resume in each partition is at exactly the id's next offset.
    const next = new Map(JSON.parse(lastId).map(e => [`${e.topic}/${e.partition}`, e.offset]));
    const seen = new Set();
    for (const g of rest) {
      const key = `${g.topic}/${g.partition}`;
      if (seen.has(key)) continue;
      seen.add(key);
      assert.equal(g.offset, next.get(key), `${key} resumed at the id's offset`);
    }
  } finally {
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (e) position from the first byte

test('(e) the eventsource client keeps its position across server ends on an idle stream', { timeout: 90000 }, async () => {
  // The server ends every stream after 2 s. Before the start id block, a connection that ended
  // before its first event gave the client no id: it came back without one, started at the end,
  // and lost what was produced while it reconnected.
  const d = await startDaemon('idle-ends', SEQ_CONFIG(', max_connection_duration: 2s'));
  try {
    const got = [];
    let opens = 0, ends = 0;
    const es = new EventSource(`${d.base}/v2/stream/seq`);  // reconnects by itself, with its id
    es.onopen = () => { opens++; };
    es.onerror = () => { ends++; };  // the server ended the stream; the client retries in 3 s
    es.onmessage = e => {
      const ev = JSON.parse(e.data);
      got.push({ seq: ev.seq, end: ev.end === true, topic: ev.meta.topic, partition: ev.meta.partition, offset: ev.meta.offset });
    };
    try {
      // Idle through two server ends: the client's only ids are the start blocks. Production
      // starts right after the second end, while the client waits out its 3 s reconnect delay:
      // what is produced then is read only by a client that comes back with a position.
      await until('two ends of the idle stream', () => ends >= 2, 30000, 10);
      const k1 = producer(d, 'eqiad.seq');
      const k2 = producer(d, 'codfw.seq');
      const t0 = Date.now();
      let n = 0;
      // Two events every 25 ms for 7 s: production spans at least two more ends and reconnects.
      await until('7 s of production', async () => {
        for (let i = 0; i < 2; i++, n++) (n % 2 ? k2 : k1).send(seqEvent('e', n));
        return Date.now() - t0 >= 7000;
      }, 30000, 25);
      k1.send({ meta: { domain: 'seq.test' }, end: true });
      k2.send({ meta: { domain: 'seq.test' }, end: true });
      await Promise.all([k1.end(), k2.end()]);
      await until('both sentinels', () => got.filter(g => g.end).length === 2, 30000);
      await until(`all ${n} events`, () => got.filter(g => !g.end).length >= n, 10000).catch(() => {});
      assert.ok(opens >= 4, `the server ended the stream while events flowed (${opens} opens)`);
      assertExactlyOnce(got.filter(g => !g.end), n);
      console.log(`# (e) ${n} events over ${opens} connections, each exactly once`);
    } finally {
      es.close();
    }
  } finally {
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (f) the server filter box

test('(f) /v2/ui server filter: canonical form or the 400 detail, and a stream of matches only', { timeout: 90000 }, async () => {
  // One partition: the last event produced is the last one to arrive.
  const d = await startDaemon('ui-filter', SEQ_CONFIG('', 1));
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems = [], streamUrls = [];
    page.on('pageerror', e => problems.push(`page error: ${e.message}`));
    // (The 400 of a refused filter's check is logged as "Failed to load resource".)
    page.on('console', m => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
    page.on('request', r => { if (r.url().includes('/v2/stream/')) streamUrls.push(r.url()); });
    await page.goto(`${d.base}/v2/ui`);
    await page.locator('#streams input[data-stream="seq"]').check();

    // A valid filter: the server's canonical form shows. '&' and '+' must be percent-encoded
    // in the URL, else they end the parameter or turn into a space.
    const FILTER = "tag = 'x&y+z'";
    await page.locator('#server-filter').fill(FILTER);
    await page.locator('#filter-check[data-state="ok"]').waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#filter-check code').textContent(), 'tag=x&y+z');

    // An invalid one: the detail of the server's 400, word for word.
    const BAD = 'title~x';
    const served = await (await fetch(`${d.base}/v2/filter?filter=${encodeURIComponent(BAD)}`)).json();
    assert.match(served.detail, /^filter #1 at character 6: /);
    await page.locator('#server-filter').fill(BAD);
    await page.locator('#filter-check[data-state="bad"]').waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#filter-check').textContent(), served.detail);
    assert.equal(await page.locator('#server-filter').getAttribute('aria-invalid'), 'true');
    // Watch does not open a stream the server would refuse.
    await page.locator('#toggle').click();
    await page.locator('#status[data-state="error"]').waitFor({ timeout: 10000 });
    assert.deepEqual(streamUrls, []);

    // The valid filter again, and Watch: the filter is in the stream URL, percent-encoded.
    await page.locator('#server-filter').fill(FILTER);
    await page.locator('#filter-check[data-state="ok"]').waitFor({ timeout: 10000 });
    await page.locator('#toggle').click();
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 15000 });
    const filtersOf = url => { const u = new URL(url); return [u.pathname, u.searchParams.getAll('filter')]; };
    assert.deepEqual(streamUrls.map(filtersOf), [['/v2/stream/seq', [FILTER]]]);

    // A third of the events match; 'x&y z' is what '+' sent unencoded would match.
    const tags = ['x&y+z', 'x&y z', 'x'];
    const events = [...Array(30).keys()].map(n => ({ ...seqEvent('f', n), tag: tags[n % 3] }));
    await produceAll(d, 'eqiad.seq', [...events, { ...seqEvent('f', 'end'), tag: 'x&y+z' }]);
    await page.locator('#events .ti', { hasText: 'f-end' }).waitFor({ timeout: 15000 });
    const wanted = [...events.filter(e => e.tag === 'x&y+z').map(e => e.title), 'f-end'];
    assert.equal(wanted.length, 11);
    assert.equal(await page.locator('#count').textContent(), String(wanted.length), 'received only the matches');
    assert.deepEqual(await page.locator('#events .ti').allTextContents(), wanted.reverse(), 'the matches, newest first');
    await page.screenshot({ path: join(ARTIFACTS, 'ui-filter.png') });

    // The text search still narrows what the page shows, among what the server sent.
    await page.locator('#filter').fill('f-2');
    await page.waitForFunction(() => document.querySelectorAll('#events > li').length === 3, null, { timeout: 5000 });
    assert.deepEqual(await page.locator('#events .ti').allTextContents(), ['f-27', 'f-24', 'f-21']);
    await page.locator('#filter').fill('');

    // Enter applies a changed filter to the open stream: it reconnects with the new one.
    await page.locator('#server-filter').fill('seq>=20');
    await page.locator('#server-filter').press('Enter');
    await until('the stream reopened with the new filter', () => streamUrls.length === 2, 10000);
    assert.deepEqual(filtersOf(streamUrls[1]), ['/v2/stream/seq', ['seq>=20']]);
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 15000 });
    assert.equal(await page.locator('#filter-check code').textContent(), 'seq>=20');
    assert.deepEqual(problems, []);
    await page.close();
  } finally {
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (g) id-only blocks

/**
 * An HTTP proxy in front of daemon `d` that passes everything through as it comes and records,
 * for each stream request (/v2/stream/…), its Last-Event-ID header, the daemon it went to (`d.base`
 * when it came: change it to switch daemons), when it came and when the daemon ended its response
 * (performance.now()), and the response body so far; `end()` ends that response towards the
 * browser: a cut the daemon does not make, so it sends nothing before it. Resolves to
 * { base, streams: [{ lastEventId, upstream, at, endedAt, body, end }], close() }.
 * `opts.lastEventId` is sent for a stream request that has none (a browser's first one): an
 * EventSource cannot set the header itself.
 */
async function tapProxy(d, opts = {}) {
  const streams = [];
  const server = http.createServer((req, res) => {
    const isStream = req.url.startsWith('/v2/stream/');
    const headers = { ...req.headers };
    if (isStream && opts.lastEventId && headers['last-event-id'] === undefined) headers['last-event-id'] = opts.lastEventId;
    const stream = isStream
      ? { lastEventId: headers['last-event-id'], upstream: d.base, at: performance.now(), body: '' } : null;
    const up = http.request(`${d.base}${req.url}`, { method: req.method, headers, agent: false }, upRes => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.on('data', b => { if (stream) stream.body += b; res.write(b); });
      upRes.on('end', () => { if (stream) stream.endedAt = performance.now(); res.end(); });
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
    if (stream) {
      stream.end = () => { up.destroy(); res.end(); };
      streams.push(stream);
    }
  });
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    streams,
    close: () => { server.closeAllConnections(); return new Promise(r => server.close(r)); },
  };
}

/** The ids of the id-only blocks (an `id:` line alone) in an SSE body, in order. */
const idOnlyBlocks = body => body.split('\n\n').slice(0, -1).filter(b => /^id: [^\n]*$/.test(b)).map(b => b.slice(4));
/** The sum of the offsets in an id: how far it is, over every partition. */
const offsetSum = id => JSON.parse(id).reduce((n, e) => n + e.offset, 0);

test('(g) an id-only block moves the browser\'s Last-Event-ID without a message event', { timeout: 90000 }, async () => {
  // SEQ_CONFIG: a keepalive every 1 s, no max_connection_duration.
  const d = await startDaemon('id-only', SEQ_CONFIG(''));
  const proxy = await tapProxy(d);
  try {
    const page = await browserSource(proxy, `/v2/stream/seq?filter=${encodeURIComponent('pick=true')}`);
    await until('the start block', () => proxy.streams.length === 1 && idOnlyBlocks(proxy.streams[0].body).length === 1, 10000);
    const first = proxy.streams[0];
    assert.equal(first.lastEventId, undefined, 'a first connection has no Last-Event-ID');
    const startId = idOnlyBlocks(first.body)[0];
    const start = offsetSum(startId);

    // Records the filter skips, in both partitions of eqiad.seq: the keepalive after them is an
    // id-only block past all of them.
    const N = 20;
    await produceAll(d, 'eqiad.seq', [...Array(N).keys()].map(n => ({ ...seqEvent('g', n), pick: false })));
    const moved = await until('an id-only block past the skipped records',
      () => idOnlyBlocks(first.body).find(id => offsetSum(id) === start + N), 15000);
    const was = new Map(JSON.parse(startId).map(e => [`${e.topic}/${e.partition}`, e.offset]));
    assert.equal(JSON.parse(moved).filter(e => e.offset > was.get(`${e.topic}/${e.partition}`)).length, 2,
      `the skipped records moved both partitions of eqiad.seq: ${startId} -> ${moved}`);
    assert.doesNotMatch(first.body, /^(data|event):/m, 'nothing but comments and id-only blocks on the wire');
    assert.deepEqual(await page.evaluate(() => window.__got), [], 'no message event');

    // The connection breaks: the browser reconnects by itself (3 s later) and sends back the id
    // of the last block, an id-only one.
    assert.equal(idOnlyBlocks(first.body).at(-1), moved);
    first.end();
    await until('the automatic reconnect', () => proxy.streams.length === 2, 15000);
    assert.equal(proxy.streams[1].lastEventId, moved, 'Last-Event-ID is the id-only block\'s id');
    await page.waitForFunction(() => window.__opens === 2, null, { timeout: 10000 });
    assert.ok(await page.evaluate(() => window.__errors) >= 1, 'the cut fired an error event');
    assert.deepEqual(await page.evaluate(() => window.__got), [], 'still no message event');

    // The first matching record comes at the position the id-only block gave.
    await produceAll(d, 'eqiad.seq', [{ ...seqEvent('g', N), pick: true }]);
    await page.waitForFunction(() => window.__got.length === 1, null, { timeout: 15000 });
    const [got] = await page.evaluate(() => window.__got);
    assert.equal(got.seq, N);
    const at = JSON.parse(moved).find(e => e.topic === got.topic && e.partition === got.partition);
    assert.equal(got.offset, at.offset, 'the match is the record right after the skipped ones');
    const [lastEventId] = await page.evaluate(() => window.__ids);
    assert.equal(offsetSum(lastEventId), start + N + 1);
    await page.close();
  } finally {
    await proxy.close();
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (h) gap events

test('(h) a gap reaches addEventListener("gap"), not onmessage', { timeout: 60000 }, async () => {
  const d = await startDaemon('gap', SEQ_CONFIG(''));
  // Offset 1000 of a partition that holds nothing: the log it came from is gone (a reset gap).
  const asked = JSON.stringify([{ topic: 'eqiad.seq', partition: 0, offset: 1000 }]);
  const proxy = await tapProxy(d, { lastEventId: asked });
  try {
    const page = await browser.newPage();
    await page.goto(`${proxy.base}/v2/ui`);
    await page.evaluate(url => new Promise((res, rej) => {
      window.__gaps = []; window.__got = []; window.__all = 0;
      const es = new EventSource(url);
      window.__es = es;
      es.addEventListener('gap', e => window.__gaps.push({ data: JSON.parse(e.data), id: e.lastEventId }));
      es.onmessage = e => { window.__got.push(JSON.parse(e.data)); };
      es.addEventListener('message', () => { window.__all++; });
      es.onopen = () => res();
      setTimeout(() => rej(new Error('EventSource did not open within 15 s')), 15000);
    }), `${proxy.base}/v2/stream/seq`);
    await page.waitForFunction(() => window.__gaps.length === 1, null, { timeout: 10000 });
    assert.equal(proxy.streams[0].lastEventId, asked);
    const [gap] = await page.evaluate(() => window.__gaps);
    assert.deepEqual(gap.data.partitions, [{ topic: 'eqiad.seq', partition: 0, requested: 1000, resumed: 0, missing: 0, reason: 'reset' }]);
    // The gap's id is the positions after the jump: the browser would resume from there.
    const at = JSON.parse(gap.id).find(e => e.topic === 'eqiad.seq' && e.partition === 0);
    assert.equal(at.offset, 0);
    assert.deepEqual(await page.evaluate(() => [window.__got, window.__all]), [[], 0], 'the gap fired no message event');

    // An event after the gap reaches onmessage as usual; the gap is still the only gap.
    await produceAll(d, 'eqiad.seq', [seqEvent('h', 0)]);
    await page.waitForFunction(() => window.__got.length === 1, null, { timeout: 15000 });
    const [got] = await page.evaluate(() => window.__got);
    assert.equal(got.seq, 0);
    assert.equal(await page.evaluate(() => window.__all), 1);
    assert.equal(await page.evaluate(() => window.__gaps.length), 1);
    assert.doesNotMatch(proxy.streams[0].body.split('event: gap')[0], /^id: /m, 'no start id-only block before the gap');
    await page.evaluate(() => window.__es.close());
    await page.close();
  } finally {
    await proxy.close();
    await stopDaemon(d);
  }
});

// ---------------------------------------------------------------- (i) drain to a second instance

// Two daemons on one cluster: B hosts it (embedded), A reads it as an external one.
const DRAIN_CONFIG = bootstrap => `
server: {listen: "127.0.0.1:0", heartbeat_interval: 1s, shutdown_timeout: 3s}
kafka:
  bootstrap_servers: ${bootstrap}
  properties: {fetch.wait.max.ms: 20}
  embedded: {brokers: 1, partitions: 2, demo_rate: 0}
streams:
  seq: {topics: [eqiad.seq, codfw.seq], description: "test events"}
`;

test('(i) on SIGTERM the browser waits the advertised retry, reconnects to a second instance and misses nothing', { timeout: 90000 }, async () => {
  const b = await startDaemon('drain-b', DRAIN_CONFIG('embedded'));
  const a = await startDaemon('drain-a', DRAIN_CONFIG(`"${b.bootstrap}"`));
  // What a load balancer does once A's /readyz answers 503: new connections go to B.
  const target = { base: a.base };
  const proxy = await tapProxy(target);
  try {
    const page = await browserSource(proxy, '/v2/stream/seq');
    await until('the start block from A', () => proxy.streams.length === 1 && /^id: /m.test(proxy.streams[0].body), 10000);
    const k1 = producer(b, 'eqiad.seq');
    const k2 = producer(b, 'codfw.seq');
    let n = 0;
    const send = () => { for (let i = 0; i < 2; i++, n++) (n % 2 ? k2 : k1).send(seqEvent('h', n)); };
    await until('events through A', async () => { send(); return (await page.evaluate(() => window.__got.length)) >= 20; }, 20000, 25);

    target.base = b.base;
    a.proc.kill('SIGTERM');
    // Events keep coming while A drains and the browser waits: it must get them all from B.
    await until('the reconnect to B and events through it', async () => {
      send();
      return proxy.streams.length >= 2 && /^data: /m.test(proxy.streams[1].body);
    }, 20000, 25);
    for (let i = 0; i < 20; i++) { send(); await new Promise(r => setTimeout(r, 25)); }
    k1.send({ meta: { domain: 'seq.test' }, end: true });
    k2.send({ meta: { domain: 'seq.test' }, end: true });
    await Promise.all([k1.end(), k2.end()]);
    // A exits by itself within its 3 s window (10 s only ends a broken run).
    assert.equal(await withTimeout(a.exit, 10000, 'A to exit'), 0, 'A exits 0');

    const [first, second] = proxy.streams;
    assert.equal(first.upstream, a.base);
    assert.equal(second.upstream, b.base, 'the reconnect went to B');
    const retries = [...first.body.matchAll(/^retry: (\d+)$/gm)].map(m => Number(m[1]));
    assert.equal(retries.length, 1, 'A sent one retry field before its end');
    const [retry] = retries;
    assert.ok(retry > 0 && retry <= 3000, `retry ${retry} ms lies inside the 3 s window`);
    assert.match(first.body, /\n\n$/, 'A ended the stream after a complete block');
    assert.ok(first.endedAt !== undefined, 'A ended the stream itself');
    // performance.now() of this process on both sides; 2 ms for the timers' granularity.
    const waited = second.at - first.endedAt;
    assert.ok(waited >= retry - 2, `reconnected ${waited.toFixed(0)} ms after the end, before the advertised ${retry} ms`);
    const lastId = [...first.body.matchAll(/^id: (.*)$/gm)].at(-1)[1];
    assert.equal(second.lastEventId, lastId, 'the reconnect carries the last id A sent');

    await page.waitForFunction(() => window.__got.filter(g => g.end).length === 2, null, { timeout: 20000 });
    await page.waitForFunction(n => window.__got.filter(g => !g.end).length >= n, n, { timeout: 15000 }).catch(() => {});
    const got = (await page.evaluate(() => window.__got)).filter(g => !g.end);
    assertExactlyOnce(got, n);
    assert.equal(await page.evaluate(() => window.__opens), 2, 'one reconnect');
    console.log(`# (i) retry ${retry} ms, reconnected after ${waited.toFixed(0)} ms; ${n} events across A and B, each exactly once`);
    await page.close();
  } finally {
    await proxy.close();
    await stopDaemon(a);
    await stopDaemon(b);
  }
});
