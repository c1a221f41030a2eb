// The phone page of a Proxemix room: a top-down view of the stage (Hall's zones, the listener, every body in
// its colour with its name and who holds it), drag your stems (two fingers or the slider for size), vote, say
// where you hear the hidden body, pin notes to the song. It reconnects by itself and comes back as the same
// participant with the same stems. Everything people typed is shown as text, never as markup.
'use strict';

const ZONES = [[0.45, 'intimate'], [1.2, 'personal'], [3.6, 'social']];
const VIEW_M = 5; // metres from the listener to the canvas's nearest edge (most of a mix is in front)
const SEND_EVERY_MS = 33; // at most 30 moves a second (the server cuts off a phone past 60)

const $ = (id) => document.getElementById(id);
const fragment = new URLSearchParams(location.hash.slice(1));
const token = fragment.get('t');
const store = { get: (k) => { try { return sessionStorage.getItem(k); } catch { return null; } },
  set: (k, v) => { try { sessionStorage.setItem(k, v); } catch { /* private mode: no resume */ } } };
const names = { get: () => { try { return localStorage.getItem('proxemix-name') || ''; } catch { return ''; } },
  set: (v) => { try { localStorage.setItem('proxemix-name', v); } catch { /* ignore */ } } };

const page = (window.proxemixRoom = {
  room: null, you: null, socket: null, joined: false, code: null, retry: 0, closedFor: null,
  drag: null, gesture: 0, pending: null, lastSent: 0, selected: null, sent: 0, welcomes: 0,
  clockAt: 0, clockFrom: performance.now(), marker: null,
});

function notice(text) {
  $('notice').textContent = text || '';
  if (text) setTimeout(() => { if ($('notice').textContent === text) $('notice').textContent = ''; }, 6000);
}

// ---- the connection ----

function connect() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const socket = new WebSocket(url);
  page.socket = socket;
  $('link').textContent = page.joined ? 'reconnecting…' : 'connecting…';
  socket.onopen = () => {
    const hello = { t: 'hello', name: $('name').value || names.get() };
    if (token) hello.token = token; else hello.code = page.code;
    const resume = store.get('proxemix-resume');
    if (resume) hello.resume = resume;
    socket.send(JSON.stringify(hello));
  };
  socket.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    receive(message);
  };
  socket.onclose = () => {
    if (page.socket !== socket) return;
    page.socket = null;
    if (page.closedFor) {
      // Refused or sent away: say why; a wrong code asks again, anything else stops here.
      $('link').textContent = page.closedFor;
      if (!page.joined && !token) showJoin(page.closedFor);
      return;
    }
    // Dropped (the phone slept, the Wi-Fi went): try again soon, and keep trying.
    page.retry = Math.min(page.retry + 1, 4);
    $('link').textContent = 'reconnecting…';
    setTimeout(connect, [100, 250, 500, 1000][page.retry - 1]);
  };
}

function send(message) {
  if (page.socket && page.socket.readyState === WebSocket.OPEN) {
    page.socket.send(JSON.stringify(message));
    page.sent++;
    return true;
  }
  return false;
}

function receive(message) {
  switch (message.t) {
    case 'welcome':
      page.joined = true; page.retry = 0; page.welcomes++;
      store.set('proxemix-resume', message.resume);
      $('join').hidden = true; $('room').hidden = false;
      $('link').textContent = 'in the room';
      break;
    case 'room':
      page.room = message;
      page.clockAt = message.at_s; page.clockFrom = performance.now();
      update();
      break;
    case 'you':
      page.you = message;
      if (document.activeElement !== $('name')) $('name').value = message.name;
      update();
      break;
    case 'notice':
      notice(message.text);
      break;
    case 'bye':
      page.closedFor = message.reason;
      notice(message.reason);
      break;
  }
}

function showJoin(error) {
  $('room').hidden = true; $('join').hidden = false;
  $('join-error').textContent = error || '';
  $('join-name').value = names.get();
}

$('join-button').onclick = () => {
  page.code = $('code').value.trim();
  names.set($('join-name').value.trim());
  $('name').value = $('join-name').value.trim();
  page.closedFor = null;
  connect();
};

$('name').onchange = () => {
  const name = $('name').value.trim().slice(0, 32);
  names.set(name);
  send({ t: 'name', name });
};

// ---- the map ----

const canvas = $('map');
const ctx = canvas.getContext('2d');
let scale = 1, cx = 0, cy = 0;

function layout() {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  scale = Math.min(w, h) / 2 / VIEW_M;
  cx = w / 2; cy = h * 0.64;
}
const toScreen = (x, z) => [cx + x * scale, cy + z * scale];
const toRoom = (px, py) => [(px - cx) / scale, (py - cy) / scale];
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
const mine = (i) => !!page.you && page.you.holds.includes(i);

function stemAt(i) {
  const s = page.room.stems[i];
  if (page.drag && page.drag.stem === i && page.drag.at) return { ...s, x: page.drag.at[0], z: page.drag.at[1] };
  return s;
}

function draw() {
  layout();
  const w = canvas.clientWidth, h = canvas.clientHeight;
  ctx.clearRect(0, 0, w, h);
  ctx.font = '13px system-ui, sans-serif';
  // The zones' names sit behind the listener, where bodies seldom are.
  ctx.font = '11px system-ui, sans-serif';
  for (const [r, label] of ZONES) {
    ctx.strokeStyle = '#3a3f4c'; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.arc(cx, cy, r * scale, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = '#6d7484';
    ctx.fillText(label, cx + r * scale * 0.8 + 2, cy + r * scale * 0.6 + 10);
  }
  ctx.fillStyle = '#6d7484'; ctx.fillText('public', cx + 3.6 * scale * 0.8 + 16, cy + 3.6 * scale * 0.6 + 26);
  ctx.font = '13px system-ui, sans-serif';
  // The listener, facing up the screen (the stage's front).
  ctx.fillStyle = '#e8e8ec';
  ctx.beginPath(); ctx.moveTo(cx, cy - 10); ctx.lineTo(cx - 7, cy + 7); ctx.lineTo(cx + 7, cy + 7); ctx.fill();
  ctx.fillText('you', cx + 10, cy + 14);
  const room = page.room;
  if (!room) return;
  const round = room.round;
  // The big bodies first, so that the small ones stay in sight on top of them.
  const order = room.stems.map((_, i) => i).filter((i) => !room.stems[i].hidden);
  order.sort((a, b) => room.stems[b].size - room.stems[a].size);
  for (const i of order) {
    const s = stemAt(i);
    const [px, py] = toScreen(s.x, s.z);
    const r = Math.max(6, 0.3 * s.size * scale);
    ctx.globalAlpha = mine(i) ? 0.95 : 0.7;
    ctx.fillStyle = rgb(s.colour);
    ctx.beginPath(); ctx.arc(px, py, r, 0, 2 * Math.PI); ctx.fill();
    if (mine(i)) { ctx.strokeStyle = '#ffffff'; ctx.lineWidth = 3; ctx.stroke(); }
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#ffffff';
    ctx.fillText(s.name, px + r + 4, py);
    if (s.holder_name != null) { ctx.fillStyle = '#9aa0ad'; ctx.fillText(`· ${s.holder_name}`, px + r + 4, py + 14); }
  }
  if (round && round.truth) {
    for (const g of round.guesses) dot(g[0], g[1], 'rgba(255,200,90,0.55)', 5);
    dot(round.truth[0], round.truth[1], '#ffffff', 8);
  }
  const guess = page.you && page.you.guess && round && page.you.guess[0] === round.id ? page.you.guess[1] : null;
  if (guess) dot(guess[0], guess[1], '#ffcf5a', 7, true);
}

function dot(x, z, colour, r, ring) {
  const [px, py] = toScreen(x, z);
  ctx.fillStyle = colour; ctx.strokeStyle = colour;
  ctx.beginPath(); ctx.arc(px, py, r, 0, 2 * Math.PI);
  if (ring) { ctx.lineWidth = 3; ctx.stroke(); } else ctx.fill();
}

function hit(px, py) {
  const room = page.room;
  if (!room) return null;
  let best = null, bestD = Infinity;
  room.stems.forEach((_, i) => {
    const s = stemAt(i);
    if (s.hidden) return;
    const [sx, sy] = toScreen(s.x, s.z);
    const d = Math.hypot(px - sx, py - sy);
    const reach = Math.max(22, 0.3 * s.size * scale + 10);
    if (d < reach && d < bestD && (mine(i) || s.holder == null)) { best = i; bestD = d; }
  });
  return best;
}

// Where stem i is drawn, in the page's coordinates (what a finger aims at; the browser tests use it too).
page.screenOf = (i) => {
  const b = canvas.getBoundingClientRect();
  const s = stemAt(i);
  const [px, py] = toScreen(s.x, s.z);
  return [b.left + px, b.top + py];
};
// The page coordinates of a place in the room.
page.screenAt = (x, z) => {
  const b = canvas.getBoundingClientRect();
  const [px, py] = toScreen(x, z);
  return [b.left + px, b.top + py];
};

const pointers = new Map();
function local(e) { const b = canvas.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; }

canvas.addEventListener('pointerdown', (e) => {
  const room = page.room;
  if (!room) return;
  const [px, py] = local(e);
  pointers.set(e.pointerId, [px, py]);
  canvas.setPointerCapture(e.pointerId);
  const round = room.round;
  if (round && !round.truth) {
    const [x, z] = toRoom(px, py);
    send({ t: 'guess', round: round.id, x: clampCoord(x), z: clampCoord(z) });
    return;
  }
  if (pointers.size === 2 && page.drag) {
    // A second finger: pinch for size.
    const [a, b] = [...pointers.values()];
    page.drag.pinch = { from: Math.hypot(a[0] - b[0], a[1] - b[1]), size: room.stems[page.drag.stem].size };
    return;
  }
  const i = hit(px, py);
  if (i == null) return;
  if (!mine(i)) { send({ t: 'claim', stem: i }); page.selected = i; return; }
  page.selected = i;
  page.gesture += 1;
  page.drag = { stem: i, g: page.gesture, pointer: e.pointerId, at: null, size: null };
  update();
});

canvas.addEventListener('pointermove', (e) => {
  if (!pointers.has(e.pointerId)) return;
  const [px, py] = local(e);
  pointers.set(e.pointerId, [px, py]);
  const drag = page.drag;
  if (!drag) return;
  if (drag.pinch && pointers.size >= 2) {
    const [a, b] = [...pointers.values()];
    const size = Math.min(10, Math.max(0.1, drag.pinch.size * Math.hypot(a[0] - b[0], a[1] - b[1]) / drag.pinch.from));
    drag.size = size;
  } else if (e.pointerId === drag.pointer) {
    const [x, z] = toRoom(px, py);
    drag.at = [clampCoord(x), clampCoord(z)];
  }
  flush(false);
  draw();
});

function endPointer(e) {
  pointers.delete(e.pointerId);
  const drag = page.drag;
  if (!drag) return;
  if (e.pointerId === drag.pointer || pointers.size === 0) {
    flush(true);
    send({ t: 'release', g: drag.g });
    page.drag = null;
    draw();
  } else if (pointers.size < 2) {
    drag.pinch = null;
  }
}
canvas.addEventListener('pointerup', endPointer);
canvas.addEventListener('pointercancel', endPointer);

const clampCoord = (v) => Math.max(-1000, Math.min(1000, v));

// Sends the drag's latest place (and size) at most every SEND_EVERY_MS; the last one always goes.
function flush(final) {
  const drag = page.drag;
  if (!drag) return;
  const now = performance.now();
  if (!final && now - page.lastSent < SEND_EVERY_MS) {
    if (!page.pending) page.pending = setTimeout(() => { page.pending = null; flush(false); }, SEND_EVERY_MS);
    return;
  }
  page.lastSent = now;
  if (drag.at && (!drag.sentAt || drag.sentAt[0] !== drag.at[0] || drag.sentAt[1] !== drag.at[1])) {
    send({ t: 'move', stem: drag.stem, x: drag.at[0], z: drag.at[1], g: drag.g });
    drag.sentAt = drag.at;
  }
  if (drag.size != null && drag.size !== drag.sentSize) {
    send({ t: 'size', stem: drag.stem, size: drag.size, g: drag.g });
    drag.sentSize = drag.size;
  }
}

// The slider: a gesture from grab to let go.
let sliderGesture = null;
$('size').addEventListener('input', () => {
  const i = page.selected;
  if (i == null || !mine(i)) return;
  if (sliderGesture == null) { page.gesture += 1; sliderGesture = page.gesture; }
  const now = performance.now();
  if (now - page.lastSent < SEND_EVERY_MS) return;
  page.lastSent = now;
  send({ t: 'size', stem: i, size: Number($('size').value), g: sliderGesture });
});
$('size').addEventListener('change', () => {
  const i = page.selected;
  if (i != null && mine(i) && sliderGesture != null) {
    send({ t: 'size', stem: i, size: Number($('size').value), g: sliderGesture });
    send({ t: 'release', g: sliderGesture });
  }
  sliderGesture = null;
});
$('let-go').onclick = () => { if (page.selected != null) send({ t: 'let_go', stem: page.selected }); };

// ---- votes, rounds, notes ----

function update() {
  const room = page.room, you = page.you;
  if (!room) return;
  $('song-name').textContent = room.name;
  $('section').textContent = room.section ? `· ${room.section}` : '';
  if (room.locked) $('hint').textContent = 'the room is locked';
  else if (you && you.holds.length) $('hint').textContent = `you hold ${you.holds.map((i) => room.stems[i].name).join(', ')}: drag to move, pinch or slide for size`;
  else $('hint').textContent = room.free_claims ? 'tap a free stem to take it' : 'the presenter hands out the stems';
  if (page.selected == null || !mine(page.selected)) page.selected = you && you.holds.length ? you.holds[0] : null;
  $('mine').hidden = page.selected == null;
  if (page.selected != null && sliderGesture == null && !room.stems[page.selected].hidden) $('size').value = room.stems[page.selected].size;

  const vote = room.vote;
  $('vote').hidden = !vote;
  if (vote) {
    $('question').textContent = vote.question;
    const chosen = you && you.ballot && you.ballot[0] === vote.id ? you.ballot[1] : null;
    const box = $('choices');
    box.replaceChildren(...vote.choices.map((c, k) => {
      const b = document.createElement('button');
      b.textContent = vote.counts ? `${c}: ${vote.counts[k]}` : c;
      b.disabled = !vote.open;
      if (chosen === k) b.className = 'chosen';
      b.onclick = () => send({ t: 'vote', vote: vote.id, choice: k });
      return b;
    }));
    $('tally').textContent = vote.open ? (chosen != null ? 'voted; you can change it until the vote closes' : 'vote') : 'the vote is closed';
  }

  const round = room.round;
  $('round').hidden = !round;
  if (round) {
    const name = room.stems[round.stem] ? room.stems[round.stem].name : '';
    if (!round.truth) {
      $('round-text').textContent = `Where do you hear ${name}? Tap the map where it sounds (${round.answers} answered).`;
    } else if (you && you.error) {
      $('round-text').textContent = `${name} was at the white dot: you were ${you.error.metres.toFixed(1)} m and ${Math.round(you.error.degrees)}° off.`;
    } else {
      $('round-text').textContent = `${name} was at the white dot.`;
    }
  }

  const select = $('note-stem');
  if (select.options.length !== room.stems.length) {
    select.replaceChildren(...room.stems.map((s, i) => { const o = document.createElement('option'); o.value = i; o.textContent = s.name; return o; }));
  }
  $('notes').replaceChildren(...room.notes.map((n) => {
    const li = document.createElement('li');
    const stem = room.stems[n.stem] ? room.stems[n.stem].name : '?';
    li.textContent = `${clock(n.at_s)} ${stem} — ${n.text} (${n.by})`;
    if (n.resolved) li.className = 'resolved';
    return li;
  }));
  draw();
}

$('note-send').onclick = () => {
  const text = $('note-text').value.trim().slice(0, 280);
  if (!text || !page.room) return;
  if (send({ t: 'note', stem: Number($('note-stem').value), at_s: playhead(), text })) $('note-text').value = '';
};

function playhead() {
  const room = page.room;
  if (!room) return 0;
  const t = page.clockAt + (room.playing ? (performance.now() - page.clockFrom) / 1000 : 0);
  return Math.max(0, Math.min(room.length_s || t, t));
}
const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
setInterval(() => { if (page.room) $('clock').textContent = `${clock(playhead())} / ${clock(page.room.length_s)}`; }, 250);

window.addEventListener('resize', draw);
document.addEventListener('visibilitychange', () => {
  // Back from sleep: a socket the phone killed in its sleep may still look open; a fresh one is cheap.
  if (document.visibilityState === 'visible' && page.joined && (!page.socket || page.socket.readyState > 1)) connect();
});

if (token) { $('room').hidden = false; connect(); } else showJoin('');
