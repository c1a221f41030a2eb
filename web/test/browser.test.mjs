// The browser build in a real browser: Debian's Chromium (software WebGL, Mesa's llvmpipe) driven by
// playwright-core against web/dist served on localhost. One page is staged through the tests in order: it
// loads and draws each body in its colour where the stage says it is; its sound runs after the click, heard
// through an analyser this test puts in front of the speakers, with no late buffer; a drag changes the level
// as the native render of the same two stagings says; the export equals the native render; a share link
// opens the same staging; a broken scene file is refused with its name and why. Figures are printed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '../..');
const dist = path.join(root, 'web/dist');
const out = path.join(root, 'web/test/out');
// Set to docs/ (from the repository's root) to refresh the README's pictures.
const docs = process.env.PROXEMIX_WEB_SCREENSHOTS && path.resolve(root, process.env.PROXEMIX_WEB_SCREENSHOTS);
const soundSeconds = Number(process.env.PROXEMIX_WEB_SOUND_S || 20);
fs.mkdirSync(out, { recursive: true });

const figures = {};
let server;
let base;
let browser;
let staged; // the page the tests stage, in order

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
  '.json': 'application/json', '.ron': 'text/plain; charset=utf-8', '.ogg': 'audio/ogg', '.md': 'text/plain' };

before(async () => {
  assert.ok(fs.existsSync(path.join(dist, 'proxemix_bg.wasm')), 'web/dist is not built: run make web-build');
  server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    const file = path.join(dist, url === '/' ? 'index.html' : url);
    if (!file.startsWith(dist)) return res.writeHead(403).end();
    // As scripts/serve-web.py serves it (make web): cross-origin isolated, the build's compressed copies sent
    // as they are to a browser that takes them.
    const headers = { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin' };
    const accepts = String(req.headers['accept-encoding'] || '');
    const packed = [['br', '.br'], ['gzip', '.gz']].find(([enc, ext]) => accepts.includes(enc) && fs.existsSync(file + ext));
    const served = packed ? file + packed[1] : file;
    if (packed) Object.assign(headers, { 'content-encoding': packed[0], vary: 'Accept-Encoding' });
    fs.readFile(served, (err, data) => {
      if (err) return res.writeHead(404).end();
      res.writeHead(200, headers).end(data);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}/`;
  // Software WebGL through ANGLE on Mesa's llvmpipe (EGL, no display): three times the frame rate of
  // SwiftShader here (175 ms against 530 ms a frame at 1280×720 on two cores).
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--use-angle=gl-egl', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--disable-sync',
      '--disable-quic', '--no-first-run', '--disable-audio-output'],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
  const wasm = fs.readFileSync(path.join(dist, 'proxemix_bg.wasm'));
  figures.wasmMB = +(wasm.length / 1e6).toFixed(1);
  figures.wasmGzipMB = +(zlib.gzipSync(wasm, { level: 9 }).length / 1e6).toFixed(1);
  console.log(`browser figures: ${JSON.stringify(figures)}`);
});

// The test's own ear, installed before the page's scripts: every connection to the speakers goes through an
// analyser, and every buffer scheduled in the past is counted (the page's own count is not trusted).
function installTap() {
  const tap = (window.__tap = { analysers: [], scheduled: 0, late: 0 });
  const connect = AudioNode.prototype.connect;
  AudioNode.prototype.connect = function (destination, ...rest) {
    if (destination instanceof AudioDestinationNode) {
      let analyser = tap.analysers.find((a) => a.context === destination.context);
      if (!analyser) {
        analyser = destination.context.createAnalyser();
        analyser.fftSize = 32768; // 0.68 s at 48 kHz: reads every 0.25 s see every sample
        connect.call(analyser, destination);
        tap.analysers.push(analyser);
      }
      return connect.call(this, analyser, ...rest);
    }
    return connect.call(this, destination, ...rest);
  };
  const start = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (when = 0, ...rest) {
    if (this.context.state === 'running') {
      tap.scheduled++;
      if (when > 0 && when < this.context.currentTime) tap.late++;
    }
    return start.call(this, when, ...rest);
  };
  // Readings while the song plays for `ms`: the playhead then, and the mean square of the last 0.68 s heard.
  tap.readings = async (ms) => {
    const analyser = tap.analysers[0];
    const buffer = new Float32Array(analyser.fftSize);
    const readings = [];
    for (const end = performance.now() + ms; performance.now() < end; ) {
      analyser.getFloatTimeDomainData(buffer);
      let sum = 0;
      for (const v of buffer) sum += v * v;
      readings.push({ playhead: window.__proxemix.status.positionS, meanSquare: sum / buffer.length });
      await new Promise((r) => setTimeout(r, 250));
    }
    return readings;
  };
  // Mean square of what reaches the speakers over `ms`, in dBFS.
  tap.level = async (ms) => {
    const analyser = tap.analysers[0];
    if (!analyser) return null;
    const buffer = new Float32Array(analyser.fftSize);
    let sum = 0;
    let n = 0;
    for (const end = performance.now() + ms; performance.now() < end; ) {
      analyser.getFloatTimeDomainData(buffer);
      for (const v of buffer) sum += v * v;
      n += buffer.length;
      await new Promise((r) => setTimeout(r, 250));
    }
    return 10 * Math.log10(sum / n + 1e-30);
  };
}

async function open(url, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true, ...options });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /panicked|RuntimeError|unreachable/.test(m.text())) problems.push(m.text());
  });
  await page.addInitScript(installTap);
  const began = Date.now();
  await page.goto(base + url);
  await page.waitForFunction(() => window.__proxemix?.phase === 'error' || (window.__proxemix?.ready && window.__proxemix.status?.frame >= 3),
    null, { timeout: 240_000, polling: 200 });
  const phase = await page.evaluate(() => window.__proxemix.phase);
  assert.equal(phase, 'running', `the page did not start: ${await messages(page)}`);
  return { context, page, problems, loadS: (Date.now() - began) / 1000 };
}

// Where a body is on the page (the stage reports canvas pixels; the canvas sits under the page's header).
async function onPage(page, body) {
  const box = await page.locator('#stage').boundingBox();
  return { x: box.x + body.x, y: box.y + body.y };
}

const messages = (page) => page.evaluate(() => document.getElementById('messages').innerText);
const status = (page) => page.evaluate(() => window.__proxemix.status);
const command = (page, name, value = 0) => page.evaluate(([n, v]) => window.__proxemix.command(n, v), [name, value]);

// Waits for the next frame drawn after now (status is published each frame).
async function nextFrames(page, n = 2) {
  const now = (await status(page)).frame;
  await page.waitForFunction((f) => window.__proxemix.status.frame >= f, now + n, { timeout: 60_000, polling: 50 });
}

// The staging as scene text (what Share puts in the link).
async function stagingText(page) {
  await page.evaluate(() => { window.__proxemix.sharedText = null; });
  await page.click('#share');
  await page.waitForFunction(() => window.__proxemix.sharedText, null, { timeout: 30_000 });
  return page.evaluate(() => window.__proxemix.sharedText);
}

// Renders scene text with the native command line (the same renderer the desktop exports with).
function nativeRender(text, name) {
  const scene = path.join(root, 'scenes', `.dry-${name}.ron`); // beside the real scenes: the stems resolve alike
  const wav = path.join(out, `${name}-native.wav`);
  fs.writeFileSync(scene, text);
  fs.writeFileSync(path.join(out, `${name}.ron`), text);
  try {
    execFileSync('cargo', ['run', '--quiet', '--no-default-features', '--', 'render', scene, '-o', wav], { cwd: root, stdio: 'inherit' });
  } finally {
    fs.rmSync(scene, { force: true });
  }
  return readWav(fs.readFileSync(wav));
}

// 16/24-bit PCM or 32-bit float WAV → { rate, channels, samples: Float64Array interleaved }.
function readWav(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(bytes.toString('ascii', 0, 4), 'RIFF');
  let offset = 12;
  let format;
  for (;;) {
    const id = bytes.toString('ascii', offset, offset + 4);
    const size = view.getUint32(offset + 4, true);
    if (id === 'fmt ') {
      format = { tag: view.getUint16(offset + 8, true), channels: view.getUint16(offset + 10, true),
        rate: view.getUint32(offset + 12, true), bits: view.getUint16(offset + 22, true) };
    } else if (id === 'data') {
      const width = format.bits / 8;
      const n = Math.floor(size / width);
      const samples = new Float64Array(n);
      for (let i = 0, p = offset + 8; i < n; i++, p += width) {
        if (format.bits === 24) {
          const v = bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16);
          samples[i] = ((v << 8) >> 8) / 8388608;
        } else if (format.bits === 16) samples[i] = view.getInt16(p, true) / 32768;
        else samples[i] = view.getFloat32(p, true);
      }
      return { rate: format.rate, channels: format.channels, bits: format.bits, samples };
    }
    offset += 8 + size + (size & 1);
  }
}

// Mean square of a render between two song times (seconds), from running sums, of its mono down-mix
// ½(L + R): what an AnalyserNode reads of a stereo signal (Web Audio's speaker down-mix).
function meanSquares(wav) {
  const frames = wav.samples.length / wav.channels;
  const sums = new Float64Array(frames + 1);
  for (let i = 0; i < frames; i++) {
    let mono = 0;
    for (let c = 0; c < wav.channels; c++) mono += wav.samples[i * wav.channels + c];
    sums[i + 1] = sums[i] + (mono / wav.channels) ** 2;
  }
  const at = (t) => Math.min(frames, Math.max(0, Math.round(t * wav.rate)));
  return (fromS, toS) => (sums[at(toS)] - sums[at(fromS)]) / Math.max(1, at(toS) - at(fromS));
}

function levelDb(wav, fromS, toS) {
  const a = Math.floor(fromS * wav.rate) * wav.channels;
  const b = Math.floor(toS * wav.rate) * wav.channels;
  let sum = 0;
  for (let i = a; i < b; i++) sum += wav.samples[i] ** 2;
  return 10 * Math.log10(sum / (b - a) + 1e-30);
}

// Colour of the canvas's pixels (a screenshot: WebGL's own buffer cannot be read back), decoded in the page.
async function pixels(page) {
  const png = await page.locator('#stage').screenshot();
  return { png, read: (points) => page.evaluate(async ([b64, pts]) => {
    const image = await createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
    const canvas = new OffscreenCanvas(image.width, image.height);
    const g = canvas.getContext('2d');
    g.drawImage(image, 0, 0);
    return pts.map(([x, y, r]) => {
      const size = 2 * r + 1;
      const data = g.getImageData(Math.round(x) - r, Math.round(y) - r, size, size).data;
      const found = [];
      for (let i = 0; i < data.length; i += 4) found.push([data[i], data[i + 1], data[i + 2]]);
      return found;
    });
  }, [png.toString('base64'), points]) };
}

function hue([r, g, b]) {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  if (max - min < 1) return { h: 0, s: 0, v: max / 255 };
  let h;
  if (max === r) h = ((g - b) / (max - min)) % 6;
  else if (max === g) h = (b - r) / (max - min) + 2;
  else h = (r - g) / (max - min) + 4;
  return { h: (h * 60 + 360) % 360, s: (max - min) / max, v: max / 255 };
}

test('the page loads, reports ready and draws each body in its colour where the stage projects it', async () => {
  staged = await open('?scene=scenes/demo.ron');
  const { page } = staged;
  const p = await page.evaluate(() => ({ firstFrameMs: window.__proxemix.firstFrameMs, readyMs: window.__proxemix.readyMs,
    decodeMs: window.__proxemix.decodeMs }));
  figures.firstFrameS = +(p.firstFrameMs / 1000).toFixed(2);
  figures.readyS = +(p.readyMs / 1000).toFixed(2);
  figures.decodeS = +(p.decodeMs / 1000).toFixed(2);
  // Served as a host should serve it: isolated (what a SharedArrayBuffer ring to an AudioWorklet needs), and
  // the wasm sent compressed.
  const served = await page.evaluate(() => {
    const wasm = performance.getEntriesByType('resource').find((e) => e.name.endsWith('proxemix_bg.wasm'));
    return { isolated: self.crossOriginIsolated, sent: wasm?.encodedBodySize, size: wasm?.decodedBodySize };
  });
  assert.ok(served.isolated, 'the page is cross-origin isolated');
  assert.ok(served.sent > 0 && served.sent < served.size / 3, `the wasm came compressed (${served.sent} of ${served.size} bytes)`);
  figures.wasmSentMB = +(served.sent / 1e6).toFixed(1);
  await nextFrames(page, 3);
  const s = await status(page);
  assert.equal(s.bodies.length, 8, 'the demo has eight bodies');
  // The overlay dims the stage until the click; it is lifted for the picture.
  await page.evaluate(() => { document.getElementById('overlay').style.visibility = 'hidden'; });
  const { png, read } = await pixels(page);
  await page.evaluate(() => { document.getElementById('overlay').style.visibility = ''; });
  fs.writeFileSync(path.join(out, 'loaded.png'), png);
  // A body whose centre another, nearer body covers cannot be seen there.
  const visible = s.bodies.filter((b) => !s.bodies.some((o) => o !== b && o.depth < b.depth && Math.hypot(o.x - b.x, o.y - b.y) < o.radius));
  assert.ok(visible.length >= 6, `${visible.length} of 8 bodies in view`);
  const found = await read(visible.map((b) => [b.x, b.y, Math.max(2, Math.min(8, Math.floor(b.radius * 0.5)))]));
  const misses = [];
  visible.forEach((body, i) => {
    const want = hue(body.colour);
    const best = Math.min(...found[i].map((px) => {
      const got = hue(px);
      if (got.s < 0.2 || got.v < 0.12) return 360;
      const d = Math.abs(got.h - want.h);
      return Math.min(d, 360 - d);
    }));
    if (best > 20) misses.push(`${body.name} at (${body.x.toFixed(0)}, ${body.y.toFixed(0)}): nearest hue ${best.toFixed(0)}° off`);
  });
  figures.bodiesSeen = visible.length;
  assert.deepEqual(misses, [], 'each body is drawn in its colour at its projected position');
  assert.deepEqual(staged.problems, []);
});

test(`after the click the sound runs and is heard, with no late buffer over ${soundSeconds} s while a body moves (and 100 ms stalls)`, async () => {
  const { page } = staged;
  assert.equal(await page.evaluate(() => window.__proxemix.contexts.length), 0, 'no sound before the click');
  await page.click('#start-sound');
  await page.waitForFunction(() => window.__proxemix.contexts[0]?.state === 'running' && window.__proxemix.status.started,
    null, { timeout: 30_000 });
  const measuring = page.evaluate(async (seconds) => {
    const ctx = window.__proxemix.contexts[0];
    const [t0, c0, late0, sched0] = [performance.now(), ctx.currentTime, window.__tap.late, window.__tap.scheduled];
    const levels = [];
    const frames = [];
    for (let i = 0; i < seconds; i++) {
      // The page's thread held for 100 ms on purpose, twice in the run (a slow frame, a long decode).
      if (i === Math.floor(seconds / 3) || i === Math.floor((2 * seconds) / 3)) {
        const end = performance.now() + 100;
        while (performance.now() < end);
      }
      levels.push(await window.__tap.level(1000));
      frames.push(window.__proxemix.status.frameMs);
    }
    return { wall: (performance.now() - t0) / 1000, clock: ctx.currentTime - c0, late: window.__tap.late - late0,
      scheduled: window.__tap.scheduled - sched0, levels, frames, rate: ctx.sampleRate };
  }, soundSeconds);
  // Meanwhile a hand moves a body round and round (the keys, on the left): the stage works every frame.
  let measured = false;
  measuring.finally(() => { measured = true; });
  const keys = (await status(page)).bodies.find((b) => b.name === 'keys');
  const grip = await onPage(page, keys);
  await page.mouse.move(grip.x, grip.y);
  await nextFrames(page, 1);
  await page.mouse.down();
  for (let i = 1; !measured; i++) {
    await page.mouse.move(grip.x + 40 * Math.sin(i / 4), grip.y + 20 * (1 - Math.cos(i / 4)));
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.mouse.up();
  const run = await measuring;
  const movedKeys = (await status(page)).bodies.find((b) => b.name === 'keys');
  assert.notDeepEqual(movedKeys.position, keys.position, 'the keys moved while the sound was measured');
  figures.soundWindowS = soundSeconds;
  figures.lateBuffers = run.late;
  figures.buffers = run.scheduled;
  figures.frameMs8 = +(run.frames.reduce((a, b) => a + b, 0) / run.frames.length).toFixed(1);
  assert.ok(Math.abs(run.clock - run.wall) < 0.1 * run.wall, `the audio clock ran ${run.clock.toFixed(2)} s in ${run.wall.toFixed(2)} s`);
  const quiet = run.levels.filter((l) => l === null || l < -45);
  assert.ok(quiet.length <= 1, `heard levels (dBFS per second): ${run.levels.map((l) => l?.toFixed(1)).join(' ')}`);
  assert.ok(run.scheduled > 0, 'buffers were scheduled');
  assert.equal(run.late, 0, `${run.late} of ${run.scheduled} buffers were scheduled too late`);
  assert.deepEqual(staged.problems, []);
});

test('dragging the voice away lowers it as the native render of the two stagings says', async () => {
  const { page } = staged;
  const voice = (await status(page)).bodies.find((b) => b.name === 'vocal');
  assert.ok(voice, 'the demo has a vocal');
  // Select it and solo it, so what is heard is the voice alone.
  // As a hand does it: over the body for a frame, pressed for a frame (the stage picks what is under the
  // pointer once a frame).
  const there = await onPage(page, voice);
  await page.mouse.move(there.x, there.y);
  await nextFrames(page, 1);
  await page.mouse.down();
  await nextFrames(page, 1);
  await page.mouse.up();
  await page.keyboard.down('s');
  await nextFrames(page, 1);
  await page.keyboard.up('s');
  await nextFrames(page, 2);
  assert.match(await stagingText(page), /name: "vocal"[^\n]*solo: true/, 'the voice is soloed');
  const span = [8.0, 18.0];
  const heard = async () => {
    // Far enough ahead that what is heard from span[0] on (a buffer and a half late) is after the seek.
    await command(page, 'seek', span[0] - 3);
    await page.waitForFunction((t) => window.__proxemix.status.positionS >= t && window.__proxemix.status.positionS < t + 1, span[0], { timeout: 20_000, polling: 10 });
    return page.evaluate((ms) => window.__tap.readings(ms), (span[1] - span[0]) * 1000);
  };
  const before = { text: await stagingText(page), heard: await heard() };
  // Drag it back and out: up the screen is away from the listener.
  const at = (await status(page)).bodies.find((b) => b.name === 'vocal');
  const from = await onPage(page, at);
  await page.mouse.move(from.x, from.y);
  await nextFrames(page, 1);
  await page.mouse.down();
  await nextFrames(page, 1);
  for (let i = 1; i <= 10; i++) {
    await page.mouse.move(from.x + 6 * i, from.y - 14 * i);
    await nextFrames(page, 1);
  }
  await page.mouse.up();
  await nextFrames(page, 3);
  const moved = (await status(page)).bodies.find((b) => b.name === 'vocal');
  const distance = (b) => Math.hypot(b.position[0], b.position[2]);
  assert.ok(distance(moved) > distance(at) + 1, `the drag moved the voice from ${distance(at).toFixed(2)} m to ${distance(moved).toFixed(2)} m`);
  const after = { text: await stagingText(page), heard: await heard() };
  const renders = [nativeRender(before.text, 'drag-before'), nativeRender(after.text, 'drag-after')].map(meanSquares);
  // Each reading heard the 0.68 s before it, from the song as rendered some time earlier (the buffers scheduled
  // ahead): that lag is found where the renders' level follows the readings' best (the voice's phrases).
  const windowS = 32768 / 48_000;
  const rendered = (render, readings, lag) => readings.map((r) => render(r.playhead - lag - windowS, r.playhead - lag));
  const db = (x) => 10 * Math.log10(x + 1e-20);
  let best = { error: Infinity, lag: 0 };
  for (let lag = 0; lag <= 2.0; lag += 0.01) {
    const diffs = rendered(renders[0], before.heard, lag).map((m, i) => db(before.heard[i].meanSquare) - db(m));
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const error = diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / diffs.length;
    if (error < best.error) best = { error, lag };
  }
  const total = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const heardChange = db(total(after.heard.map((r) => r.meanSquare))) - db(total(before.heard.map((r) => r.meanSquare)));
  const renderedChange = db(total(rendered(renders[1], after.heard, best.lag))) - db(total(rendered(renders[0], before.heard, best.lag)));
  figures.dragLagS = +best.lag.toFixed(2);
  const offset = (render, readings) => total(rendered(render, readings, best.lag).map((m, i) => db(readings[i].meanSquare) - db(m)));
  figures.dragOffsetsDb = [offset(renders[0], before.heard), offset(renders[1], after.heard)].map((x) => +x.toFixed(2));
  figures.dragHeardDb = +heardChange.toFixed(2);
  figures.dragRenderedDb = +renderedChange.toFixed(2);
  assert.ok(renderedChange < -3, `the law lowers a voice moved from ${distance(at).toFixed(2)} to ${distance(moved).toFixed(2)} m (${renderedChange.toFixed(2)} dB)`);
  assert.ok(Math.abs(heardChange - renderedChange) < 1.5,
    `heard ${heardChange.toFixed(2)} dB, the native render says ${renderedChange.toFixed(2)} dB`);
  // Back to the whole band for what follows.
  await page.keyboard.down('s');
  await nextFrames(page, 1);
  await page.keyboard.up('s');
  await nextFrames(page, 2);
  assert.doesNotMatch(await stagingText(page), /solo: true/);
});

test('Export WAV downloads a file equal to the native render of the same staging', async () => {
  const { page } = staged;
  const text = await stagingText(page);
  const began = Date.now();
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 300_000 }), page.click('#export')]);
  const file = path.join(out, 'web-export.wav');
  await download.saveAs(file);
  figures.exportS = +((Date.now() - began) / 1000).toFixed(1);
  const web = readWav(fs.readFileSync(file));
  const native = nativeRender(text, 'export');
  assert.equal(web.rate, native.rate);
  assert.equal(web.bits, native.bits);
  assert.equal(web.samples.length, native.samples.length, 'same length');
  let worst = 0;
  for (let i = 0; i < web.samples.length; i++) worst = Math.max(worst, Math.abs(web.samples[i] - native.samples[i]));
  const residualDb = 20 * Math.log10(worst + 1e-30);
  figures.exportResidualDbfs = worst === 0 ? -Infinity : +residualDb.toFixed(1);
  assert.ok(residualDb <= -90, `the web export differs from the native render by up to ${residualDb.toFixed(1)} dBFS`);
  assert.ok(levelDb(web, 0, web.samples.length / web.channels / web.rate) > -40, 'the export is not silent');
  assert.match((await status(page)).exportOutcome, /^exported demo\.wav/);
});

test('a share link opens the same staging in a new page', async () => {
  const { page } = staged;
  const text = await stagingText(page);
  const link = await page.evaluate(() => window.__proxemix.shareLink);
  assert.match(link, /#staging=[A-Za-z0-9_-]+$/);
  figures.shareLinkChars = link.length;
  const here = await status(page);
  const other = await open(link.slice(base.length));
  const there = await status(other.page);
  assert.equal(there.bodies.length, here.bodies.length);
  for (const [a, b] of here.bodies.map((body, i) => [body, there.bodies[i]])) {
    assert.equal(b.name, a.name);
    assert.ok(a.position.every((v, k) => Math.abs(v - b.position[k]) < 0.002), `${a.name} at ${a.position} and ${b.position}`);
  }
  assert.equal(await stagingText(other.page), text, 'the staging round-trips exactly');
  assert.deepEqual(other.problems, []);
  await other.context.close();
});

test('a broken scene file is refused with its name and why, and the stage goes on', async () => {
  const { page } = staged;
  const url = page.url();
  await page.setInputFiles('#file-input', { name: 'broken staging.ron', mimeType: 'text/plain',
    buffer: Buffer.from('(\n    version: 2,\n    name: "Broken",\n    stems: [ (name: "a", file: \n') });
  await page.waitForFunction(() => document.querySelector('#messages .error:last-child')?.textContent.includes('broken staging.ron'),
    null, { timeout: 30_000 });
  const error = await page.evaluate(() => document.querySelector('#messages .error:last-child').textContent);
  assert.match(error, /local\/broken staging\.ron/);
  assert.match(error, /ron:\d+:\d+: /, 'the line and column of the fault');
  await nextFrames(page, 2);
  assert.equal(page.url(), url, 'the page stays on the staging it had');
  assert.deepEqual(staged.problems, []);
});

test('a share-link bomb is refused at 4 MB unpacked, and the page opens its own scene instead', async () => {
  // 400 MB of spaces deflate to about 400 kB: the link is short, what it unpacks to is not.
  const bomb = zlib.deflateRawSync(Buffer.alloc(400 * 1024 * 1024, 0x20), { level: 9 });
  const fragment = bomb.toString('base64').replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
  const began = Date.now();
  const opened = await open(`#staging=${fragment}`);
  const said = await messages(opened.page);
  assert.match(said, /this link's staging cannot be read \(it unpacks to more than the 4 MB limit for a scene\); opening scenes\/demo\.ron/);
  assert.equal((await status(opened.page)).path, 'scenes/demo.ron');
  figures.shareBombLinkKb = Math.round(fragment.length / 1024);
  figures.shareBombPageS = (Date.now() - began) / 1000;
  figures.shareBombRefusedMs = Math.round(await opened.page.evaluate(() => window.__proxemix.linkMs));
  assert.ok(figures.shareBombRefusedMs < 5000, `refused in ${figures.shareBombRefusedMs} ms`);
  assert.deepEqual(opened.problems, []);
  await opened.context.close();
});

test('files past their limits are refused before they are read, and the stage goes on', async () => {
  const { page } = staged;
  const url = page.url();
  await page.setInputFiles('#file-input', [
    { name: 'huge.ron', mimeType: 'text/plain', buffer: Buffer.alloc(5 * 1024 * 1024, 0x20) },
    { name: 'tone.wav', mimeType: 'audio/wav', buffer: toneWav(1) },
  ]);
  await page.waitForFunction(() => document.querySelector('#messages .error:last-child')?.textContent.includes('huge.ron'),
    null, { timeout: 30_000 });
  const error = await page.evaluate(() => document.querySelector('#messages .error:last-child').textContent);
  assert.match(error, /local\/huge\.ron: 5\.0 MB is larger than the 4 MB limit for a scene file/);
  assert.match(await page.evaluate(() => document.getElementById('status-line').textContent), /huge\.ron/);
  await nextFrames(page, 2);
  assert.equal(page.url(), url, 'the page stays on the staging it had');
  assert.deepEqual(staged.problems, []);
});

test('A/B in the page: two scenes loaded, matched in loudness, Tab switches', async () => {
  const ab = await open('?scene=scenes/punchy-drums.ron&compare=scenes/buried-drums.ron');
  const { page } = ab;
  await page.waitForFunction(() => window.__proxemix.status.compare.every((s) => s.measuredLufs !== null), null, { timeout: 120_000 });
  const slots = (await status(page)).compare;
  assert.deepEqual(slots.map((s) => s.path), ['scenes/punchy-drums.ron', 'scenes/buried-drums.ron']);
  const matched = slots.map((s) => s.measuredLufs + s.trimDb);
  figures.abMeasuredLufs = slots.map((s) => +s.measuredLufs.toFixed(1));
  assert.ok(Math.abs(matched[0] - matched[1]) < 0.6, `both play at one loudness: ${matched.map((l) => l.toFixed(2)).join(' and ')} LUFS`);
  await page.click('#start-sound'); // the stage has the keyboard once the sound is on
  await page.waitForFunction(() => window.__proxemix.status.started, null, { timeout: 30_000 });
  await page.keyboard.down('Tab');
  await nextFrames(page, 1);
  await page.keyboard.up('Tab');
  await page.waitForFunction(() => window.__proxemix.status.compare[1].shown, null, { timeout: 30_000 });
  assert.equal((await status(page)).path, 'scenes/buried-drums.ron');
  assert.deepEqual(ab.problems, []);
  await ab.context.close();
});

// A WAV file made here: a 440 Hz tone, mono, 16-bit.
function toneWav(seconds, rate = 44_100) {
  const n = Math.round(seconds * rate);
  const bytes = Buffer.alloc(44 + 2 * n);
  bytes.write('RIFF', 0);
  bytes.writeUInt32LE(36 + 2 * n, 4);
  bytes.write('WAVEfmt ', 8);
  bytes.writeUInt32LE(16, 16);
  bytes.writeUInt16LE(1, 20);
  bytes.writeUInt16LE(1, 22);
  bytes.writeUInt32LE(rate, 24);
  bytes.writeUInt32LE(2 * rate, 28);
  bytes.writeUInt16LE(2, 32);
  bytes.writeUInt16LE(16, 34);
  bytes.write('data', 36);
  bytes.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) bytes.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + 2 * i);
  return bytes;
}

test('your own stems open from disk: staged on an arc, heard, and a file that is not audio named', async () => {
  const { page } = staged;
  await page.setInputFiles('#file-input', [
    { name: 'tone.wav', mimeType: 'audio/wav', buffer: toneWav(12) },
    { name: 'bass.ogg', mimeType: 'audio/ogg', buffer: fs.readFileSync(path.join(root, 'assets/stems/bass.ogg')) },
    { name: 'not audio.wav', mimeType: 'audio/wav', buffer: Buffer.from('these are words, not sound') },
  ]);
  await page.waitForURL(/local=1/, { timeout: 60_000 });
  await page.waitForFunction(() => window.__proxemix?.ready && window.__proxemix.status?.frame >= 3, null, { timeout: 240_000 });
  const s = await status(page);
  assert.deepEqual(s.bodies.map((b) => b.name), ['bass', 'tone']);
  assert.equal(s.scene, 'My stems');
  assert.match(await messages(page), /left out local\/not audio\.wav: not a readable WAV/);
  await page.click('#start-sound');
  await page.waitForFunction(() => window.__proxemix.status.positionS > 1, null, { timeout: 60_000 });
  const level = await page.evaluate(() => window.__tap.level(1500));
  assert.ok(level > -50, `the opened stems are heard (${level.toFixed(1)} dBFS)`);
  assert.deepEqual(staged.problems, []);
});

// A page opened, its sound started with a click (a tap on a phone), a few seconds played, then pictured.
async function picture(name, options, tap) {
  const shot = await open('?scene=scenes/demo.ron', options);
  await (tap ? shot.page.tap('#start-sound') : shot.page.click('#start-sound'));
  await shot.page.waitForFunction(() => window.__proxemix.status.positionS > 6, null, { timeout: 60_000 });
  await nextFrames(shot.page, 2);
  fs.writeFileSync(path.join(out, `${name}.png`), await shot.page.screenshot());
  if (docs) fs.copyFileSync(path.join(out, `${name}.png`), path.join(docs, `web-${name}.png`));
  assert.deepEqual(shot.problems, []);
  await shot.context.close();
}

test('pictures and the frame time with 64 bodies', async () => {
  await staged?.context.close();
  await picture('desktop', {});
  await picture('phone', { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }, true);
  // 64 bodies: the demo's eight stems eight times over, on a spiral.
  const demo = fs.readFileSync(path.join(dist, 'scenes/demo.ron'), 'utf8');
  const files = [...demo.matchAll(/file: "([^"]+)"/g)].map((m) => m[1]);
  const stems = Array.from({ length: 64 }, (_, i) => {
    const angle = i * 0.7;
    const r = 1 + i * 0.08;
    return `(name: "body ${i}", file: "${files[i % files.length]}", position: (${(r * Math.sin(angle)).toFixed(3)}, 1.2, ${(-r * Math.cos(angle)).toFixed(3)}), size: 1.0)`;
  });
  fs.writeFileSync(path.join(dist, 'scenes/.dry-64.ron'), `(version: 2, name: "64 bodies", stems: [\n${stems.join(',\n')}\n])\n`);
  const many = await open('?scene=scenes/.dry-64.ron');
  await many.page.click('#start-sound');
  const run = await many.page.evaluate(async () => {
    const [late0, f0, t0] = [window.__tap.late, window.__proxemix.status.frame, performance.now()];
    await new Promise((r) => setTimeout(r, 10_000));
    return { late: window.__tap.late - late0, frames: window.__proxemix.status.frame - f0, ms: performance.now() - t0 };
  });
  figures.frameMs64 = +(run.ms / run.frames).toFixed(1);
  figures.lateBuffers64Over10s = run.late;
  assert.deepEqual(many.problems, []);
  await many.context.close();
});
