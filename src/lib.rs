//! Proxemix stages a mix in space: each stem is a body in a room around one listener.
//!
//! The layers import downward only (a test in `tests/integration/layers.rs` holds them to it):
//! [`files`] (the seam the core reads through, atomic writes) ← [`scene`] (the file, the model, the pure
//! timeline) ← [`mix`] (mapping, driver, graph, effects, audio input, offline render) ← [`handout`] and
//! [`commands`] (what the CLI does) ← `room` (phones join the stage: the
//! server and its state, Bevy-free) ← `app` (the stage, Bevy) and `bench` (the `dev` feature's measurements and
//! the live tests' harness).

pub mod commands;
pub mod files;
pub mod handout;
pub mod mix;
pub mod scene;

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "dev")]
pub mod bench;
#[cfg(all(feature = "app", not(target_arch = "wasm32")))]
pub mod room;
