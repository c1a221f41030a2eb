//! The mix core: mapping, import, effects, the one mix graph and offline render. It never imports Bevy.
#![warn(missing_docs)]

pub mod ab;
pub mod decode;
pub mod driver;
pub mod effects;
pub mod engine;
pub mod graph;
pub mod import;
pub mod mapping;
pub mod offline;
pub mod quiz;
pub mod source;
pub mod stream;
pub mod translate;

pub use graph::{GraphConfig, MixGraph};
pub use import::Audio;
pub use mapping::{StemMix, Zone};
pub use source::StemSource;
