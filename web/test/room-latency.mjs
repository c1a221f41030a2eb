// The phone of `proxemix bench --room`: one Chromium page at 390×844 with touch joins the stage's room, takes
// stem 0 and drags it between two places, MOVES times, PAUSE_MS apart. For each move it prints, at once,
// "moved K EPOCH_MS": the wall-clock time (ms since 1970) just before the finger's move was dispatched, so
// the bench can find when the stage's sound changed after it.
//
//   node room-latency.mjs LINK MOVES PAUSE_MS NEAR_X NEAR_Z FAR_X FAR_Z
//
// Bounded: everything is given up after MOVES × PAUSE_MS + 60 s.
import { chromium } from 'playwright-core';

const [link, movesText, pauseText, ...coords] = process.argv.slice(2);
const [moves, pause] = [Number(movesText), Number(pauseText)];
const [near, far] = [[Number(coords[0]), Number(coords[1])], [Number(coords[2]), Number(coords[3])]];
if (!link || !(moves > 0) || !(pause > 0) || coords.length !== 4) {
  console.error('usage: node room-latency.mjs LINK MOVES PAUSE_MS NEAR_X NEAR_Z FAR_X FAR_Z');
  process.exit(2);
}
setTimeout(() => { console.error('room-latency: gave up'); process.exit(3); }, moves * pause + 60_000).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--disable-sync', '--disable-quic', '--no-first-run', '--disable-audio-output'],
});
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await context.newPage();
  await page.goto(link);
  await page.waitForFunction(() => window.proxemixRoom.joined && window.proxemixRoom.room, undefined, { timeout: 20_000 });
  const cdp = await context.newCDPSession(page);
  const touch = (type, [x, y]) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y, id: 1 }] });
  const screenAt = (p) => page.evaluate(([x, z]) => window.proxemixRoom.screenAt(x, z), p);
  const [a, b] = [await screenAt(near), await screenAt(far)];
  const start = await page.evaluate(() => window.proxemixRoom.screenOf(0));
  await touch('touchStart', start);
  await touch('touchEnd', start);
  await page.waitForFunction(() => (window.proxemixRoom.you || { holds: [] }).holds.includes(0), undefined, { timeout: 5000 });
  // To the near place first (unmeasured), then back and forth; each move one finger: down, one move, up.
  let at = start;
  for (let k = 0; k <= moves; k++) {
    const to = k % 2 === 0 ? a : b;
    await touch('touchStart', at);
    const when = performance.timeOrigin + performance.now();
    await touch('touchMove', to);
    await touch('touchEnd', to);
    if (k > 0) console.log(`moved ${k} ${when.toFixed(3)}`);
    at = to;
    await new Promise((r) => setTimeout(r, pause));
  }
} finally {
  await browser.close();
}
