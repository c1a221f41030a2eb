//! A stem file's bytes in (as the web page hands them over): probed, decoded and converted to 48 kHz through the
//! decoder the desktop streams with, then sought into and read again. Anything may be refused; nothing may
//! panic, and what comes out is finite and bounded (the repair's promise).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use proxemix::files::FileSource;
use proxemix::mix::input::{StemDecoder, stem_info};

/// At most this many frames are read per input (a long file costs the fuzzer time, not coverage).
const MAX_FRAMES: usize = 1 << 15;

fuzz_target!(|bytes: &[u8]| {
    // The first byte picks the name (so the probe's hint varies); the rest is the file.
    let Some((&pick, file)) = bytes.split_first() else { return };
    let name = ["a.wav", "a.flac", "a.ogg", "a.mp3", "a.bin"][pick as usize % 5];
    let files = FileSource::in_memory();
    files.put(Path::new(name), file.to_vec());
    let Ok(info) = stem_info(&files, Path::new(name), 48_000) else { return };
    let Ok(mut decoder) = StemDecoder::open(&info) else { return };
    let mut frames = Vec::new();
    while frames.len() < MAX_FRAMES {
        match decoder.read(&mut frames, 4096) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    for f in &frames {
        assert!(f.left.is_finite() && f.right.is_finite() && f.left.abs() < 1e4 && f.right.abs() < 1e4);
    }
    if decoder.seek(info.frames / 2).is_ok() {
        let mut more = Vec::new();
        let _ = decoder.read(&mut more, 4096);
        assert!(more.iter().all(|f| f.left.is_finite() && f.right.is_finite()));
    }
});
