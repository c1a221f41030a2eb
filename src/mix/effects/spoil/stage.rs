//! What every spoil stage is: a [`Stage`] processed block by block, at most [`MAX_BLOCK`] frames, on the macro's
//! control grid of [`CONTROL_FRAMES`].

/// The most frames a stage processes in one call (callers split longer blocks).
pub const MAX_BLOCK: usize = 128;
/// The macro moves its stages, and the wow its delay, on a grid of this many frames counted from the start,
/// so the output never depends on how the renderer chunks the audio.
pub const CONTROL_FRAMES: usize = 32;

/// One character stage: stereo, block by block, parameters set between blocks (never allocating there).
pub trait Stage: Sized + Send + 'static {
    /// What the macro sets on this stage.
    type Settings: Copy + Send + 'static;
    /// Builds the stage for `sample_rate` (allocates what it will need).
    fn new(sample_rate: f32, settings: &Self::Settings) -> Self;
    /// Takes new settings (between blocks).
    fn set(&mut self, settings: &Self::Settings);
    /// Processes at most [`MAX_BLOCK`] frames in place.
    fn process(&mut self, left: &mut [f32], right: &mut [f32]);
    /// Forgets its state (after a fault).
    fn reset(&mut self);
    /// Constant delay the stage adds (frames).
    fn latency_frames(&self) -> usize {
        0
    }
}
