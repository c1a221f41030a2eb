// Phones for the room's live test, its benchmark and its screenshots: Chromium pages at 390×844 with touch join
// the stage's room by its link, each taps its stem to claim it and drags it with a finger (touch events, as a
// phone sends them), all at once. Prints one JSON line: where each stem ended, as the room reports it.
//
//   node room-phones.mjs LINK PLAN [SHOTS_DIR]
//   PLAN: [{"name": "Ana", "stem": 0, "to": [x, z], "note": "optional"}, ...]   (metres; the listener at 0,
//         the front at -z; a note is pinned to the stem at the playhead once it is dragged)
//
// Bounded: everything is given up after 90 s.
import { chromium } from 'playwright-core';

const [link, planText, shots] = process.argv.slice(2);
if (!link || !planText) {
  console.error('usage: node room-phones.mjs LINK PLAN [SHOTS_DIR]');
  process.exit(2);
}
const plan = JSON.parse(planText);
setTimeout(() => { console.error('room-phones: gave up after 90 s'); process.exit(3); }, 90_000).unref();

const until = async (page, test, what, ms = 15_000, arg = undefined) => {
  try {
    await page.waitForFunction(test, arg, { timeout: ms, polling: 20 });
  } catch {
    const seen = await page.evaluate(() => JSON.stringify({ you: window.proxemixRoom.you, link: document.getElementById('link').textContent }));
    throw new Error(`${what}: not seen within ${ms} ms (${seen})`);
  }
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--disable-sync', '--disable-quic', '--no-first-run', '--disable-audio-output'],
});
try {
  const phones = await Promise.all(plan.map(async (step) => {
    // Each phone its own context: its own session (and resume key), as separate phones have.
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`${step.name}: page error: ${e.message}`));
    await page.goto(link);
    await until(page, () => window.proxemixRoom.joined && window.proxemixRoom.room, `${step.name} joined`);
    await page.fill('#name', step.name);
    await page.dispatchEvent('#name', 'change');
    return { step, page, cdp: await context.newCDPSession(page) };
  }));

  const touch = (cdp, type, x, y) =>
    cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y, id: 1 }] });
  const started = Date.now();
  const results = await Promise.all(phones.map(async ({ step, page, cdp }) => {
    const i = step.stem;
    // A tap on the body claims it.
    const [ax, ay] = await page.evaluate((i) => window.proxemixRoom.screenOf(i), i);
    await touch(cdp, 'touchStart', ax, ay);
    await touch(cdp, 'touchEnd', ax, ay);
    await until(page, (i) => window.proxemixRoom.you && window.proxemixRoom.you.holds.includes(i), `${step.name} holds stem ${i}`, 5000, i);
    // A finger's drag to the target, in 24 moves over about 0.7 s.
    const [bx, by] = await page.evaluate(([x, z]) => window.proxemixRoom.screenAt(x, z), step.to);
    await touch(cdp, 'touchStart', ax, ay);
    for (let k = 1; k <= 24; k++) {
      await touch(cdp, 'touchMove', ax + ((bx - ax) * k) / 24, ay + ((by - ay) * k) / 24);
      await new Promise((r) => setTimeout(r, 30));
    }
    await touch(cdp, 'touchEnd', bx, by);
    // The stage took it: the room reports the stem where the finger let go (to a centimetre; the screen's pixels).
    await until(page, ([i, x, z]) => {
      const s = window.proxemixRoom.room.stems[i];
      return Math.hypot(s.x - x, s.z - z) < 0.05;
    }, `${step.name}'s ${i} where the finger left it`, 10_000, [i, ...step.to]);
    if (step.note) {
      // Pin a note to the stem at the playhead, as a person would: open the notes, pick the stem, type, Pin.
      await page.click('#notes-box summary');
      await page.selectOption('#note-stem', String(i));
      await page.fill('#note-text', step.note);
      await page.click('#note-send');
      await until(page, (text) => window.proxemixRoom.room.notes.some((n) => n.text === text), `${step.name}'s note`, 5000, step.note);
    }
    const seen = await page.evaluate((i) => {
      const r = window.proxemixRoom.room;
      return { x: r.stems[i].x, z: r.stems[i].z, holder: r.stems[i].holder_name, at_s: r.at_s, sent: window.proxemixRoom.sent };
    }, i);
    return { name: step.name, stem: i, ...seen };
  }));
  const tookMs = Date.now() - started;
  if (shots) {
    for (const { step, page } of phones) await page.screenshot({ path: `${shots}/phone-${step.name}.png` });
  }
  console.log(JSON.stringify({ phones: results, took_ms: tookMs }));
} finally {
  await browser.close();
}
