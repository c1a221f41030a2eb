//! The mix core: mapping, driver, engine, effects, audio input, the one mix graph and offline render. It never
//! imports Bevy, and reads its files through the seam it is handed.
#![warn(missing_docs)]

pub mod ab;
pub mod driver;
pub mod effects;
pub mod engine;
pub mod graph;
pub mod input;
pub mod mapping;
pub mod offline;
pub mod quiz;
pub mod realtime;
pub mod translate;

pub use graph::{GraphConfig, MixGraph};
pub use input::{Audio, StemSource};
pub use mapping::{StemMix, Zone};
