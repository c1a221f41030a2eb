//! The one integration-test crate (each test binary links the whole app, so there is only one).

mod cli;
mod common;
mod import;
mod laws;
mod robustness;
