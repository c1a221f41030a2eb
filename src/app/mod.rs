//! The stage (Bevy): placeholder until the stage issue lands.

use std::path::PathBuf;

use crate::commands::UserError;

pub fn run(_scene: PathBuf) -> Result<(), UserError> {
    Err(UserError("the interactive stage is not built yet; use `proxemix render` to hear a scene".into()))
}
