//! Why a stem file cannot be used ([`ImportError`] names the file and the reason) and the limits it is held to.

use std::fmt;
use std::path::PathBuf;

/// Longest stem accepted: a song, not an album. Checked against the header before decoding, and again while
/// decoding in case the header lies.
pub const MAX_DURATION_S: u64 = 20 * 60;
/// Largest file accepted (bytes); a 20-minute 192 kHz 32-bit stereo WAV is ~1.8 GB.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Sample rates outside this range are refused as implausible (usually a corrupt header).
pub const SAMPLE_RATE_RANGE: (u32, u32) = (4_000, 768_000);
/// The extensions `proxemix new` picks up (content is probed regardless of the name).
pub const AUDIO_EXTENSIONS: [&str; 6] = ["wav", "wave", "flac", "ogg", "oga", "mp3"];

/// Why a file could not be used. Display names the file and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    /// The file.
    pub path: PathBuf,
    /// Why, in words the user can act on.
    pub reason: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for ImportError {}

/// What a caught panic said (its message, where it carries one), for a report that names what crashed (a stem's
/// decoder, a stem's chain).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_owned()
    }
}
