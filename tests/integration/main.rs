//! The one integration-test crate (each test binary links the whole app, so there is only one).

mod cli;
mod common;
mod demo_song;
mod hostile;
mod import;
mod laws;
mod layers;
#[cfg(feature = "app")]
mod live;
mod realtime;
#[cfg(feature = "app")]
mod record;
mod robustness;
#[cfg(feature = "app")]
mod room;
mod spoil;
#[cfg(feature = "app")]
mod stage;
mod streaming;
mod workshop;
