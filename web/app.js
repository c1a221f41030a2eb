// Proxemix in a web page: fetches the scene and its stems, decodes the stems in a worker (off the page's
// thread), starts the stage in the canvas, and carries the page's side of the stage: starting the sound after
// a click, downloads, the browser's storage, share links and opening files. The stage itself is the same Rust
// app as on the desktop (proxemix.js / proxemix_bg.wasm, made by scripts/build-web.sh).

import init, * as wasm from './proxemix.js';

const $ = (id) => document.getElementById(id);

// What the page knows, for the status line and for tests (window.__proxemix).
const page = (window.__proxemix = {
  t0: performance.now(),
  phase: 'loading',
  ready: false, // stems decoded, the stage started
  firstFrameMs: null, // page load to the stage's first frame
  readyMs: null, // page load to the stage ready to sound (decoded, started)
  linkMs: null, // unpacking a share link (or refusing it)
  soundMs: null, // page load to the AudioContext running after the click
  decodeMs: null,
  errors: [],
  contexts: [],
  buffers: 0, // WebAudio buffers the stage scheduled while the context ran
  lateBuffers: 0, // ... of which were scheduled for a time already past (a gap in the sound)
  downloads: [],
  status: null,
});

// The sound: cpal creates an AudioContext when the stage opens, before any click, so the browser keeps it
// suspended; the click resumes it. The context is found where it schedules its first buffer (wasm-bindgen's glue
// holds the AudioContext constructor from before this script runs, so the constructor cannot be watched).
if (window.AudioBufferSourceNode) {
  const nativeStart = AudioBufferSourceNode.prototype.start;
  AudioBufferSourceNode.prototype.start = function (when = 0, ...rest) {
    const ctx = this.context;
    if (!page.contexts.includes(ctx)) page.contexts.push(ctx);
    // cpal schedules each buffer on the running clock; one scheduled for a time already past plays late.
    if (ctx.state === 'running') {
      page.buffers++;
      if (when > 0 && when < ctx.currentTime) page.lateBuffers++;
    }
    return nativeStart.call(this, when, ...rest);
  };
}

// What opening files had to say, kept across the reload that opens them.
function sayAfterReload(text, kind) {
  const kept = JSON.parse(sessionStorage.getItem('proxemix:notes') || '[]');
  kept.push([text, kind]);
  sessionStorage.setItem('proxemix:notes', JSON.stringify(kept));
}

function say(text, kind = '') {
  const p = document.createElement('p');
  p.textContent = text;
  if (kind) p.className = kind;
  $('messages').append(p);
  if (kind === 'error') page.errors.push(text);
  if (kind !== 'error') setTimeout(() => p.remove(), 8000);
  return p;
}

// The limits the core holds files to (scene/model.rs MAX_SCENE_BYTES, mix/input/error.rs MAX_FILE_BYTES), checked
// here before a byte is read: the page holds each file whole, so a stem is also held to what a tab can take.
const MAX_SCENE_BYTES = 4 * 1024 * 1024;
const MAX_STEM_BYTES = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

function limitFor(path) {
  return path.toLowerCase().endsWith('.ron') ? MAX_SCENE_BYTES : MAX_STEM_BYTES;
}

function tooLarge(path, bytes, limit) {
  return `${path}: ${(bytes / MIB).toFixed(1)} MB is larger than the ${limit / MIB} MB limit for ${limit === MAX_SCENE_BYTES ? 'a scene file' : 'a stem in the page'}`;
}

// Something failed that stops the page's work: the status line says it (for 20 s, beside the stage's own
// status once the stage runs), and the messages say it in full.
function fail(text) {
  page.problem = { text: text.split('\n')[0], until: performance.now() + 20_000 };
  $('status-line').textContent = page.problem.text;
  say(text, 'error');
}

function progress(fraction, text) {
  $('progress').hidden = fraction === null;
  if (fraction !== null) {
    $('progress-bar').style.width = `${Math.round(fraction * 100)}%`;
    $('progress-text').textContent = text;
  }
}

// ---- files the user opened, kept in the browser (IndexedDB) across the reload that opens them ----

// Every request says why it failed (a full quota, private browsing, another tab holding an old version).
const why = (e) => (e ? `${e.name || 'Error'}: ${e.message || e}` : 'no reason given');

function database() {
  return new Promise((resolve, reject) => {
    let open;
    try {
      open = indexedDB.open('proxemix', 1);
    } catch (e) {
      return reject(new Error(`this browser keeps no files (${why(e)})`));
    }
    open.onupgradeneeded = () => open.result.createObjectStore('files');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(new Error(`this browser's storage cannot be opened (${why(open.error)})`));
    open.onblocked = () => reject(new Error("this browser's storage is held by another tab of this page; close it"));
  });
}

async function storeLocalFiles(files) {
  const db = await database();
  await new Promise((resolve, reject) => {
    const tx = db.transaction('files', 'readwrite');
    const store = tx.objectStore('files');
    store.clear();
    for (const [path, bytes] of files) store.put(bytes, path);
    tx.oncomplete = resolve;
    // A full quota aborts the transaction (QuotaExceededError): said, and nothing half-kept.
    tx.onerror = () => reject(new Error(`the files cannot be kept in this browser (${why(tx.error)})`));
    tx.onabort = () => reject(new Error(`the files cannot be kept in this browser (${why(tx.error)})`));
  });
}

async function localFile(path) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const get = db.transaction('files').objectStore('files').get(path);
    get.onsuccess = () => resolve(get.result);
    get.onerror = () => reject(new Error(`${path}: cannot be read back from this browser (${why(get.error)})`));
  });
}

// ---- share links: the staging as deflated RON in the address's fragment (never sent to a server) ----

async function deflate(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

// A link unpacks to at most a scene file's limit: a crafted one (a few hundred kB of deflated zeros is hundreds of
// MB) is refused as soon as it passes the limit, never held whole.
async function inflate(encoded) {
  if (encoded.length > MAX_SCENE_BYTES) throw new Error(`the link is ${(encoded.length / MIB).toFixed(1)} MB long`);
  const binary = atob(encoded.replaceAll('-', '+').replaceAll('_', '/'));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_SCENE_BYTES) {
      reader.cancel().catch(() => {});
      throw new Error(`it unpacks to more than the ${MAX_SCENE_BYTES / MIB} MB limit for a scene`);
    }
    parts.push(value);
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(await new Blob(parts).arrayBuffer());
}

// ---- where the scene comes from: a share link, files the user opened, or a scene served with the page ----

const params = new URLSearchParams(location.search);
const isLocal = params.get('local') === '1';

async function fileBytes(path) {
  if (isLocal) {
    const kept = await localFile(path);
    if (kept) return new Uint8Array(kept);
  }
  let response;
  try {
    response = await fetch(path);
  } catch (e) {
    throw new Error(`${path}: cannot fetch it (${why(e)})`);
  }
  if (!response.ok) throw new Error(`${path}: cannot fetch it (HTTP ${response.status})`);
  const limit = limitFor(path);
  const declared = Number(response.headers.get('content-length'));
  if (declared > limit) {
    response.body?.cancel().catch(() => {});
    throw new Error(tooLarge(path, declared, limit));
  }
  // Read in pieces, so a server that does not say the length still cannot send more than the limit.
  const reader = response.body.getReader();
  const parts = [];
  let total = 0;
  for (;;) {
    let piece;
    try {
      piece = await reader.read();
    } catch (e) {
      throw new Error(`${path}: the download broke off (${why(e)})`);
    }
    if (piece.done) break;
    total += piece.value.length;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw new Error(tooLarge(path, total, limit));
    }
    parts.push(piece.value);
  }
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

async function handOverScene(path, text) {
  const bytes = text !== undefined ? new TextEncoder().encode(text) : await fileBytes(path);
  wasm.put_file(path, bytes);
}

// ---- decoding the stems in workers, the progress bar while they come in ----

// The workers start with the page, so they compile the app's code while the page compiles its own.
const newDecoder = () => new Worker('decode-worker.js', { type: 'module' });
const decoders = Array.from({ length: navigator.hardwareConcurrency >= 4 ? 2 : 1 }, newDecoder);

function decodeStems(listed) {
  const paths = [...new Set(listed)]; // stems that share a file decode it once
  const workers = decoders.slice(0, Math.max(1, Math.min(paths.length, decoders.length)));
  const rate = wasm.engine_rate();
  let done = 0;
  const began = performance.now();
  progress(0, `loading ${paths.length} stems…`);
  const failed = (path, reason) => {
    wasm.hand_over_failure(path, rate, reason.replace(`${path}: `, ''));
    say(reason.startsWith(path) ? reason : `${path}: ${reason}`, 'error');
  };
  const counted = (path) => {
    done++;
    progress(done / paths.length, `decoded ${done} of ${paths.length} stems (${path.split('/').pop()})`);
  };
  // One stem in one worker. A worker that dies on a stem (out of memory, a trap in its code) fails that stem by
  // name and is replaced, so the page never waits on it.
  const one = (slot, path) =>
    new Promise(async (resolve) => {
      let bytes;
      try {
        bytes = await fileBytes(path);
      } catch (e) {
        failed(path, String(e.message || e));
        counted(path);
        return resolve();
      }
      const worker = slot.worker;
      const finish = () => {
        worker.onmessage = worker.onerror = worker.onmessageerror = null;
        counted(path);
        resolve();
      };
      worker.onmessage = ({ data }) => {
        if (data.ok) {
          wasm.hand_over_stem(path, rate, data.interleaved, data.sourceChannels, data.sourceRate);
          if (data.repairs) say(`${path}: repaired: ${data.repairs}`, 'note');
        } else {
          failed(path, data.reason);
        }
        finish();
      };
      const died = (e) => {
        e?.preventDefault?.();
        failed(path, `the decoder stopped on this file (${e?.message || 'its worker failed'})`);
        worker.terminate();
        slot.worker = newDecoder();
        finish();
      };
      worker.onerror = died;
      worker.onmessageerror = died;
      worker.postMessage({ path, bytes, rate }, [bytes.buffer]);
    });
  const queue = [...paths];
  const slots = workers.map((worker) => ({ worker }));
  const run = async (slot) => {
    while (queue.length) await one(slot, queue.shift());
  };
  return Promise.all(slots.map(run)).then(() => {
    decoders.forEach((w) => w.terminate());
    slots.forEach((s) => s.worker.terminate());
    page.decodeMs = performance.now() - began;
    progress(null);
  });
}

// ---- the pickers ----

async function fillPickers(current, compare) {
  let scenes = [];
  try {
    scenes = await (await fetch('scenes.json')).json();
  } catch {
    /* a page served without its list still plays what the address names */
  }
  for (const [picker, chosen] of [[$('scene-picker'), current], [$('compare-picker'), compare[0] || '']]) {
    for (const scene of scenes) {
      const option = new Option(scene.name, scene.path, false, scene.path === chosen);
      picker.append(option);
    }
    if (chosen && !scenes.some((s) => s.path === chosen)) picker.append(new Option(chosen, chosen, false, true));
  }
  $('scene-picker').onchange = () => {
    location.href = `?scene=${encodeURIComponent($('scene-picker').value)}`;
  };
  $('compare-picker').onchange = () => {
    const other = $('compare-picker').value;
    const here = `?scene=${encodeURIComponent($('scene-picker').value)}`;
    location.href = other ? `${here}&compare=${encodeURIComponent(other)}` : here;
  };
}

// ---- opening files: the picker and dropping them on the page ----

async function openFiles(fileList) {
  const files = [...fileList];
  if (!files.length) return;
  // Sizes first: a file past its limit is refused before a byte of it is read.
  const oversized = files.filter((f) => f.size > limitFor(f.name));
  if (oversized.length) return fail(oversized.map((f) => tooLarge(`local/${f.name}`, f.size, limitFor(f.name))).join('\n'));
  let read;
  try {
    read = await Promise.all(files.map(async (f) => [`local/${f.name}`, new Uint8Array(await f.arrayBuffer())]));
  } catch (e) {
    return fail(`the files cannot be read (${why(e)})`);
  }
  const scenes = read.filter(([p]) => p.toLowerCase().endsWith('.ron'));
  const stems = read.filter(([p]) => !p.toLowerCase().endsWith('.ron'));
  if (scenes.length > 1) return say('open one scene (.ron) at a time, with its stems', 'error');
  let scenePath;
  for (const [path, bytes] of read) wasm.put_file(path, bytes);
  if (scenes.length === 1) {
    scenePath = scenes[0][0];
  } else {
    scenePath = 'local/my stems.ron';
    try {
      const made = wasm.scene_for_stems(stems.map(([p]) => p), scenePath, 'My stems');
      for (const why of made.skipped) sayAfterReload(`left out ${why}`, 'error');
      const text = new TextEncoder().encode(made.ron);
      wasm.put_file(scenePath, text);
      read.push([scenePath, text]);
    } catch (e) {
      return say(String(e), 'error');
    }
  }
  // The scene must be readable before the page reloads on it: a broken file is reported here, with the
  // stage left as it is.
  try {
    const needed = wasm.scene_stems(scenePath);
    const have = new Set(read.map(([p]) => p));
    const missing = needed.filter((p) => p.startsWith('local/') && !have.has(p));
    if (missing.length) sayAfterReload(`not opened with the scene (they will be silent): ${missing.join(', ')}`, 'error');
  } catch (e) {
    return say(String(e), 'error');
  }
  try {
    await storeLocalFiles(read);
  } catch (e) {
    return fail(`${String(e.message || e)}; the stage goes on with what it has`);
  }
  location.href = `?local=1&scene=${encodeURIComponent(scenePath)}`;
}

function acceptDrops() {
  const hint = $('drop-hint');
  let depth = 0;
  window.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    hint.hidden = false;
  });
  window.addEventListener('dragleave', () => {
    if (--depth <= 0) hint.hidden = true;
  });
  // Without this the browser would navigate to the dropped file.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    hint.hidden = true;
    openFiles(e.dataTransfer.files);
  });
}

// ---- what the stage hands the page ----

function offer(download) {
  const types = { wav: 'audio/wav', scene: 'text/plain', share: 'text/plain' };
  if (download.kind === 'share') return share(new TextDecoder().decode(download.bytes));
  if (download.kind === 'scene') {
    try {
      localStorage.setItem(`proxemix:scene:${download.name}`, new TextDecoder().decode(download.bytes));
    } catch (e) {
      say(`${download.name} is downloaded but not kept in this browser (${why(e)})`, 'error');
    }
  }
  const url = URL.createObjectURL(new Blob([download.bytes], { type: types[download.kind] }));
  const a = document.createElement('a');
  a.href = url;
  a.download = download.name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  page.downloads.push({ kind: download.kind, name: download.name, bytes: download.bytes.length });
  say(download.kind === 'wav' ? `exported ${download.name}` : `saved ${download.name} (downloaded, and kept in this browser)`, 'note');
}

async function share(text) {
  page.sharedText = text;
  const link = new URL(location.href);
  link.search = '';
  link.hash = `staging=${await deflate(text)}`;
  history.replaceState(null, '', link);
  $('share-box').hidden = false;
  $('share-link').value = link.href;
  page.shareLink = link.href;
  say(`share link ready (${link.href.length} characters): anyone with the page's stems hears this staging`, 'note');
}

function describe(s) {
  const time = (t) => `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, '0')}`;
  const sound = page.contexts[0] ? `${page.contexts[0].state}, ${s.bufferFrames}-frame buffers` : 'off';
  const lufs = s.lufs === null ? '' : ` · ${s.lufs.toFixed(1)} LUFS`;
  const late = page.buffers ? ` · late buffers ${page.lateBuffers}/${page.buffers}` : '';
  const news = s.news ? ` · ${s.news}` : '';
  const problem = page.problem && performance.now() < page.problem.until ? ` · ⚠ ${page.problem.text}` : '';
  return `${s.scene} · ${s.playing ? '▶' : '❚❚'} ${time(s.positionS)} / ${time(s.songS)}${lufs} · sound ${sound}${late} · ${s.frameMs.toFixed(0)} ms/frame${news}${problem}`;
}

let lastProblems = '';
let lastExport = '';
function watch() {
  const s = wasm.status();
  if (s) {
    page.status = s;
    if (page.firstFrameMs === null && s.frame >= 1) page.firstFrameMs = performance.now() - page.t0;
    $('status-line').textContent = describe(s);
    const problems = s.problems.join('\n');
    if (problems !== lastProblems) {
      lastProblems = problems;
      for (const p of s.problems) say(p, 'error');
    }
    if (s.exportProgress !== null) progress(s.exportProgress, `exporting… ${Math.round(s.exportProgress * 100)}%`);
    else if (page.ready) progress(null);
    if (s.exportOutcome !== lastExport) {
      lastExport = s.exportOutcome;
      if (s.exportOutcome) say(s.exportOutcome, s.exportOutcome.startsWith('export failed') ? 'error' : 'note');
    }
  }
  for (let d = wasm.take_download(); d; d = wasm.take_download()) offer(d);
  requestAnimationFrame(watch);
}

// The click: the stage opens its sound device now (its buffer sized from the frames it measured so far) and
// starts the song; the browser lets a context made after a click run (it is resumed here too, in case).
async function startSound() {
  $('start-sound').disabled = true;
  wasm.command('sound-started', 0);
  const until = performance.now() + 10_000;
  while (performance.now() < until && !page.contexts.some((c) => c.state === 'running')) {
    for (const c of page.contexts) if (c.state === 'suspended') c.resume().catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
  }
  if (page.contexts.some((c) => c.state === 'running')) {
    page.soundMs = performance.now() - page.t0;
    $('overlay').hidden = true;
    $('stage').focus();
  } else {
    $('start-sound').disabled = false;
    $('overlay-note').textContent = 'the browser kept the sound off; click again';
  }
}

async function boot() {
  for (const [text, kind] of JSON.parse(sessionStorage.getItem('proxemix:notes') || '[]')) say(text, kind);
  sessionStorage.removeItem('proxemix:notes');
  acceptDrops();
  $('open').onclick = () => $('file-input').click();
  $('file-input').onchange = (e) => openFiles(e.target.files);
  await init();
  let scenePath = params.get('scene') || 'scenes/demo.ron';
  let compare = params.getAll('compare').filter(Boolean);
  let sharedText;
  if (location.hash.startsWith('#staging=')) {
    const began = performance.now();
    try {
      sharedText = await inflate(location.hash.slice('#staging='.length));
      page.linkMs = performance.now() - began;
      scenePath = 'scenes/shared staging.ron';
      compare = [];
    } catch (e) {
      page.linkMs = performance.now() - began;
      say(`this link's staging cannot be read (${e.message || e}); opening ${scenePath}`, 'error');
    }
  }
  await fillPickers(scenePath, compare);
  let stems;
  try {
    await handOverScene(scenePath, sharedText);
    for (const other of compare) await handOverScene(other);
    stems = wasm.scene_stems(scenePath);
    for (const other of compare) wasm.scene_stems(other);
  } catch (e) {
    page.phase = 'error';
    return fail(`the scene could not be opened: ${String(e.message || e)}`);
  }
  page.phase = 'decoding';
  await decodeStems(stems);
  try {
    wasm.start(scenePath, compare);
  } catch (e) {
    page.phase = 'error';
    return fail(String(e.message || e));
  }
  page.phase = 'running';
  page.ready = true;
  page.readyMs = performance.now() - page.t0;
  $('overlay').hidden = false;
  $('start-sound').onclick = startSound;
  // Each button gives the keyboard back to the stage, so its shortcuts go on working.
  const stageCommand = (name) => () => {
    wasm.command(name, 0);
    $('stage').focus();
  };
  $('save').onclick = stageCommand('save');
  $('export').onclick = stageCommand('export');
  $('share').onclick = stageCommand('share');
  page.command = (name, value) => wasm.command(name, value);
  $('share-copy').onclick = () => navigator.clipboard?.writeText($('share-link').value);
  requestAnimationFrame(watch);
}

boot().catch((e) => {
  page.phase = 'error';
  fail(`the page could not start: ${e.message || e}`);
});
// Nothing fails unheard: a promise nobody awaited says what it was.
window.addEventListener('unhandledrejection', (e) => fail(`something failed: ${e.reason?.message || e.reason}`));
