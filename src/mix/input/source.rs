//! Where a stem's audio comes from (a file streamed from disk, or frames in memory) and how the audio thread
//! reads it for a pass of the transport: the stem's own frames, and silence past its end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kira::Frame;

use super::decode::StemDecoder;
use super::error::ImportError;
use super::load::Audio;
#[cfg(target_arch = "wasm32")]
use super::load::load_all;
use super::probe::StemInfo;
#[cfg(not(target_arch = "wasm32"))]
use super::probe::stem_info;
use super::stream::{Pass, StemStream, StreamHealth, StreamReader};
use crate::files::FileSource;
use crate::scene::Scene;

/// A stem's audio at the engine rate.
#[derive(Clone, Debug)]
pub enum StemSource {
    /// Decoded and held in memory (tests, benchmarks, the browser).
    Memory(Audio),
    /// A file decoded ahead of the playhead while it plays; memory stays bounded whatever its length.
    File(StemInfo),
}

impl From<Audio> for StemSource {
    fn from(audio: Audio) -> StemSource {
        StemSource::Memory(audio)
    }
}

impl StemSource {
    /// Frames at the engine rate.
    pub fn frames(&self) -> u64 {
        match self {
            StemSource::Memory(a) => a.frames.len() as u64,
            StemSource::File(info) => info.frames,
        }
    }

    /// The rate it plays at.
    pub fn sample_rate(&self) -> u32 {
        match self {
            StemSource::Memory(a) => a.sample_rate,
            StemSource::File(info) => info.engine_rate,
        }
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / self.sample_rate().max(1) as f64
    }

    /// Channels in the file (1 or 2): a mono stem is widened by decorrelation, a stereo one keeps its image.
    pub fn channels(&self) -> usize {
        match self {
            StemSource::Memory(a) => a.source_channels,
            StemSource::File(info) => info.probe.channels.max(1),
        }
    }

    /// The file, for a streamed stem.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StemSource::Memory(_) => None,
            StemSource::File(info) => Some(&info.path),
        }
    }

    /// The same audio decoded into memory (a streamed stem is read whole).
    pub fn into_memory(self) -> Result<StemSource, ImportError> {
        match self {
            StemSource::Memory(_) => Ok(self),
            StemSource::File(info) => {
                let mut decoder = StemDecoder::open(&info)?;
                let mut frames = Vec::with_capacity(info.frames as usize);
                while decoder.read(&mut frames, 1 << 16)? > 0 {}
                Ok(StemSource::Memory(Audio {
                    sample_rate: info.engine_rate,
                    frames: frames.into(),
                    source_channels: info.probe.channels.max(1),
                    source_sample_rate: info.probe.sample_rate,
                }))
            }
        }
    }
}

/// Opens every stem file of a scene for streaming at `sample_rate`: only the headers are read, so this is quick
/// whatever the length of the song. In the browser (no threads to stream with) the stems are decoded whole.
pub fn open_scene(
    files: &FileSource,
    scene_path: &Path,
    scene: &Scene,
    sample_rate: u32,
) -> Vec<Result<StemSource, ImportError>> {
    let paths: Vec<PathBuf> = scene.stems.iter().map(|s| Scene::resolve_file(scene_path, s)).collect();
    open_files(files, &paths, sample_rate)
}

/// [`open_scene`] for a list of files.
pub fn open_files(files: &FileSource, paths: &[PathBuf], sample_rate: u32) -> Vec<Result<StemSource, ImportError>> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        paths
            .iter()
            .map(|p| {
                // A decoder bug on hostile input must cost one stem, not the program.
                std::panic::catch_unwind(|| stem_info(files, p, sample_rate).map(StemSource::File)).unwrap_or_else(
                    |payload| {
                        let why = crate::mix::input::error::panic_message(payload.as_ref());
                        Err(ImportError {
                            path: p.clone(),
                            reason: format!("the decoder crashed on this file ({why})"),
                        })
                    },
                )
            })
            .collect()
    }
    #[cfg(target_arch = "wasm32")]
    {
        load_all(files, paths, sample_rate).into_iter().map(|r| r.map(StemSource::Memory)).collect()
    }
}

/// How the audio thread reads one stem.
pub(crate) enum SourceReader {
    Memory(Arc<[Frame]>),
    Stream(StreamReader),
    Silent,
}

/// What a graph keeps of a source on the control side: the stream to steer, if it streams.
pub(crate) enum SourceControl {
    Still,
    Stream(StemStream),
}

impl SourceControl {
    pub fn request(&self, pass: Pass) {
        if let SourceControl::Stream(s) = self {
            s.request(pass);
        }
    }

    pub fn stall(&self, stalled: bool) {
        if let SourceControl::Stream(s) = self {
            s.stall(stalled);
        }
    }

    pub fn health(&self) -> Option<StreamHealth> {
        match self {
            SourceControl::Still => None,
            SourceControl::Stream(s) => Some(s.health()),
        }
    }
}

/// Opens a source for playing: a stream starts its thread, already producing `first`. A thread that cannot
/// be started is an error naming the file (a stem must not go silent without a word).
pub(crate) fn open_reader(source: Option<&StemSource>, first: Pass) -> Result<(SourceControl, SourceReader), String> {
    Ok(match source {
        None => (SourceControl::Still, SourceReader::Silent),
        Some(StemSource::Memory(a)) => (SourceControl::Still, SourceReader::Memory(a.frames.clone())),
        Some(StemSource::File(info)) => match StemStream::start(info.clone(), first) {
            Ok((stream, reader)) => (SourceControl::Stream(stream), SourceReader::Stream(reader)),
            Err(e) => return Err(format!("{}: cannot start its stream: {e}", info.path.display())),
        },
    })
}

impl SourceReader {
    /// Fills `out` with frames `q ..` of `pass`: the stem's own frames where it has them, silence past its end
    /// (until a loop wraps) and after a song that does not loop has ended.
    pub fn read(&mut self, pass: &Pass, stem_frames: u64, q: u64, out: &mut [Frame], wait: bool) {
        let mut done = 0;
        while done < out.len() {
            let rest = &mut out[done..];
            let at = q + done as u64;
            let Some(frame) = pass.song_frame(at) else {
                rest.fill(Frame::ZERO);
                return;
            };
            if frame >= stem_frames {
                // Silence until the loop wraps.
                let until_wrap = if pass.looping { pass.song_frames - frame } else { u64::MAX };
                let n = (until_wrap.min(rest.len() as u64)) as usize;
                rest[..n].fill(Frame::ZERO);
                done += n;
                continue;
            }
            let n = ((stem_frames - frame).min(rest.len() as u64)) as usize;
            let part = &mut rest[..n];
            match self {
                SourceReader::Memory(frames) => {
                    let f = frame as usize;
                    match frames.get(f..f + n) {
                        Some(src) => part.copy_from_slice(src),
                        None => part.fill(Frame::ZERO),
                    }
                }
                SourceReader::Stream(reader) => reader.read(pass.generation, at, part, wait),
                SourceReader::Silent => part.fill(Frame::ZERO),
            }
            done += n;
        }
    }

    /// Whether the opening of `pass` (its first `enough` frames) has landed, without touching what the current
    /// pass still plays from: a seek can switch to it without a gap.
    pub fn landed(&mut self, pass: &Pass, stem_frames: u64, enough: u64) -> bool {
        match self {
            SourceReader::Memory(_) | SourceReader::Silent => true,
            SourceReader::Stream(reader) => {
                let Some(frame) = pass.song_frame(0) else { return true };
                if frame >= stem_frames || reader.failed() {
                    return true;
                }
                let needed = enough.min(stem_frames - frame);
                reader.landed_frames(pass.generation, 0, needed) >= needed
            }
        }
    }

    /// Whether enough of pass frames `q ..` is here to start playing without a gap.
    pub fn primed(&mut self, pass: &Pass, stem_frames: u64, q: u64, enough: u64) -> bool {
        match self {
            SourceReader::Memory(_) | SourceReader::Silent => true,
            SourceReader::Stream(reader) => {
                let Some(frame) = pass.song_frame(q) else { return true };
                if frame >= stem_frames || reader.failed() {
                    return true;
                }
                let needed = enough.min(stem_frames - frame);
                // Counting drops what is left of an older pass first; a ring full of this one is enough.
                reader.ready_frames(pass.generation, q, needed) >= needed || reader.full()
            }
        }
    }
}
