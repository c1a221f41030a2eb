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
pub mod translate;

pub use graph::{GraphConfig, MixGraph};
pub use input::{Audio, StemSource};
pub use mapping::{StemMix, Zone};

/// What a caught panic said (its message, where it carries one), for a report that names what crashed.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_owned()
    }
}
