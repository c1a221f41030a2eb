//! Audio in: a stem file probed, decoded (symphonia), repaired, converted to the engine rate (rubato), and then
//! either loaded whole or streamed from disk through a bounded ring; a [`StemSource`] is what the graph plays.
//!
//! Inside, each file imports only those below it: [`error`] ← [`repair`] ← [`mod@probe`] ← [`decode`] ← [`mod@load`],
//! [`stream`] ← [`source`].

pub mod decode;
pub mod error;
pub mod load;
pub mod probe;
pub mod repair;
pub mod source;
pub mod stream;

pub use decode::StemDecoder;
pub use error::{AUDIO_EXTENSIONS, ImportError, MAX_DURATION_S, MAX_FILE_BYTES, SAMPLE_RATE_RANGE};
pub use load::{Audio, load, load_all, load_from, load_reporting};
pub use probe::{Probe, StemInfo, probe, stem_info};
pub use repair::Repairs;
pub use source::{StemSource, open_files, open_scene};
