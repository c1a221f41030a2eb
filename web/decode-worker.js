// Decodes stems off the page's thread with the same Rust decoder the desktop uses (symphonia, rubato): the
// page sends a file's bytes, gets back its frames at the engine rate, interleaved stereo, or why it failed.

import init, { decode_stem } from './proxemix.js';

const ready = init();

self.onmessage = async ({ data: { path, bytes, rate } }) => {
  try {
    await ready;
    const d = decode_stem(path, bytes, rate);
    const reply = { path, ok: true, interleaved: d.interleaved, sourceChannels: d.sourceChannels, sourceRate: d.sourceRate, repairs: d.repairs };
    self.postMessage(reply, [d.interleaved.buffer]);
  } catch (e) {
    self.postMessage({ path, ok: false, reason: String(e) });
  }
};
