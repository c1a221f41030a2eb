//! The DSP: the spoil stages, the fused per-stem chain, the shared reverb and the master chain (gain, limiter,
//! meter). Plain structs, not kira effects: the engine (one kira sound, [`crate::mix::engine`]) owns them all, and
//! hands each its parameters through `set` (from the driver's snapshot, between blocks, with a ramp length) and
//! its audio through `process`.
//!
//! Real-time rules for everything in here: `process` and `set` never allocate, lock, log or do I/O; parameters
//! are ramped sample by sample ([`Ramps`]), on a grid counted from the start of the song, so the output does not
//! depend on how the renderer chunks the audio; no NaN, Inf or subnormal leaves an effect.

// DSP loops here walk several parallel arrays by one index; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

pub mod master;
pub mod reverb;
pub mod spoil;
pub mod stem_chain;

use std::sync::atomic::{AtomicU32, Ordering};

/// Magnitudes below this are flushed to zero in filter and delay state: far under 24-bit resolution and far
/// above the subnormal range, where x86 arithmetic slows down by up to 100×.
pub const FLUSH_BELOW: f32 = 1e-20;

/// Flushes a tiny value (including subnormals) to exact zero.
#[inline(always)]
pub fn flush(x: f32) -> f32 {
    if x.abs() < FLUSH_BELOW { 0.0 } else { x }
}

/// The largest magnitude and the sum of all samples of a block. The sum is not finite if any sample is not,
/// so one test catches NaN and infinity. Eight independent lanes let the compiler vectorise what a single
/// running max or sum (a chain of dependent operations) cannot.
pub fn peak_and_sum(frames: &[kira::Frame]) -> (f32, f32) {
    let mut peak = [0.0f32; 8];
    let mut sum = [0.0f32; 8];
    let mut chunks = frames.chunks_exact(4);
    for chunk in &mut chunks {
        for (j, f) in chunk.iter().enumerate() {
            for (k, v) in [f.left, f.right].into_iter().enumerate() {
                let lane = 2 * j + k;
                let a = v.abs();
                peak[lane] = if a > peak[lane] { a } else { peak[lane] };
                sum[lane] += v;
            }
        }
    }
    for f in chunks.remainder() {
        for (k, v) in [f.left, f.right].into_iter().enumerate() {
            let a = v.abs();
            peak[k] = if a > peak[k] { a } else { peak[k] };
            sum[k] += v;
        }
    }
    (peak.into_iter().fold(0.0, |a, b| if b > a { b } else { a }), sum.into_iter().sum())
}

/// Coefficient of a one-pole low-pass `y += a·(x − y)` with a −3 dB point near `cutoff_hz` (impulse-invariant).
/// Returns 1.0 (a pass-through) at or above Nyquist.
pub fn one_pole_coefficient(cutoff_hz: f32, sample_rate: f32) -> f32 {
    let nyquist = 0.5 * sample_rate;
    // NaN and anything at or above Nyquist pass straight through.
    if cutoff_hz.is_nan() || cutoff_hz >= nyquist {
        return 1.0;
    }
    1.0 - (-std::f32::consts::TAU * cutoff_hz.max(1.0) / sample_rate).exp()
}

/// A set of parameters moved from their current values to new targets along one linear ramp, one step per
/// sample. Stepping per sample (not per renderer chunk) keeps the output independent of block sizes.
#[derive(Clone, Debug)]
pub struct Ramps<const N: usize> {
    /// The values now.
    pub current: [f32; N],
    step: [f32; N],
    target: [f32; N],
    remaining: u32,
}

impl<const N: usize> Ramps<N> {
    /// Holding `values`.
    pub fn new(values: [f32; N]) -> Self {
        Ramps { current: values, step: [0.0; N], target: values, remaining: 0 }
    }

    /// Starts a ramp to `target` over `frames` samples (0 jumps at once).
    pub fn set(&mut self, target: [f32; N], frames: u32) {
        self.target = target;
        if frames == 0 {
            self.current = target;
            self.remaining = 0;
            return;
        }
        for i in 0..N {
            self.step[i] = (target[i] - self.current[i]) / frames as f32;
        }
        self.remaining = frames;
    }

    /// Where the ramp goes.
    pub fn target(&self) -> &[f32; N] {
        &self.target
    }

    /// Samples left on the ramp.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// One sample along the ramp; lands exactly on the target at the end.
    #[inline(always)]
    pub fn advance(&mut self) {
        if self.remaining == 0 {
            return;
        }
        self.remaining -= 1;
        if self.remaining == 0 {
            self.current = self.target;
        } else {
            for i in 0..N {
                self.current[i] += self.step[i];
            }
        }
    }
}

/// An `f32` shared between the audio thread and readers elsewhere (meters), stored as bits.
#[derive(Debug, Default)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    /// Holding `v`.
    pub fn new(v: f32) -> Self {
        AtomicF32(AtomicU32::new(v.to_bits()))
    }
    /// The value now.
    pub fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
    /// Replaces the value.
    pub fn store(&self, v: f32) {
        self.0.store(v.to_bits(), Ordering::Relaxed)
    }
    /// Raises the stored value to `v` if `v` is larger (both non-negative).
    pub fn fetch_max(&self, v: f32) {
        // Non-negative floats order like their bit patterns.
        self.0.fetch_max(v.max(0.0).to_bits(), Ordering::Relaxed);
    }
    /// Reads the value and resets it to zero (peak-hold meters).
    pub fn take(&self) -> f32 {
        f32::from_bits(self.0.swap(0, Ordering::Relaxed))
    }
}

/// What a delay line can hold: mono samples or stereo frames.
pub trait DelaySample: Copy + Default {
    /// The value `t` of the way from `self` to `other` (0 .. 1).
    fn lerp(self, other: Self, t: f32) -> Self;
}

impl DelaySample for f32 {
    #[inline(always)]
    fn lerp(self, other: f32, t: f32) -> f32 {
        self + t * (other - self)
    }
}

impl DelaySample for [f32; 2] {
    #[inline(always)]
    fn lerp(self, other: [f32; 2], t: f32) -> [f32; 2] {
        [self[0] + t * (other[0] - self[0]), self[1] + t * (other[1] - self[1])]
    }
}

/// A delay line whose length is a power of two, so wrapping is a mask. Allocated in `init`, never in `process`.
#[derive(Clone, Debug, Default)]
pub struct DelayLine<T: DelaySample = f32> {
    buf: Vec<T>,
    mask: usize,
    write: usize,
}

impl<T: DelaySample> DelayLine<T> {
    /// A line that can delay by at least `max_delay` samples.
    pub fn with_capacity(max_delay: usize) -> Self {
        let len = (max_delay + 2).next_power_of_two();
        DelayLine { buf: vec![T::default(); len], mask: len - 1, write: 0 }
    }

    /// The longest delay it can give.
    pub fn capacity(&self) -> usize {
        self.buf.len().saturating_sub(2)
    }

    #[inline(always)]
    /// Pushes one sample (the oldest one drops out).
    pub fn push(&mut self, x: T) {
        self.write = (self.write + 1) & self.mask;
        self.buf[self.write] = x;
    }

    /// The sample pushed `delay` pushes ago (0 = the latest).
    #[inline(always)]
    pub fn tap(&self, delay: usize) -> T {
        self.buf[(self.write.wrapping_sub(delay)) & self.mask]
    }

    /// The four samples around a read at `delay` (at least 1): `[tap(delay − 1), tap(delay), tap(delay + 1),
    /// tap(delay + 2)]`, read as one run where the line does not wrap there.
    #[inline(always)]
    pub fn taps4(&self, delay: usize) -> [T; 4] {
        let oldest = self.write.wrapping_sub(delay + 2) & self.mask;
        match self.buf.get(oldest..oldest + 4) {
            Some(run) => [run[3], run[2], run[1], run[0]],
            None => [self.tap(delay - 1), self.tap(delay), self.tap(delay + 1), self.tap(delay + 2)],
        }
    }

    /// Linear interpolation between taps, for smoothly moving delays.
    #[inline(always)]
    pub fn tap_fractional(&self, delay: f32) -> T {
        let whole = delay as usize;
        self.tap(whole).lerp(self.tap(whole + 1), delay - whole as f32)
    }

    /// Fills the line with silence.
    pub fn clear(&mut self) {
        self.buf.iter_mut().for_each(|s| *s = T::default());
    }

    /// Fills `out` with consecutive samples, the first being `delay` pushes ago: `out[k] = tap(delay - k)`.
    /// Reads at most two contiguous runs. `delay` must be at least `out.len() - 1`.
    pub fn read_block(&self, delay: usize, out: &mut [T]) {
        debug_assert!(delay + 1 >= out.len());
        let mut start = self.write.wrapping_sub(delay) & self.mask;
        let mut done = 0;
        while done < out.len() {
            let run = (out.len() - done).min(self.buf.len() - start);
            out[done..done + run].copy_from_slice(&self.buf[start..start + run]);
            done += run;
            start = 0;
        }
    }

    /// Pushes every sample of `xs`, oldest first.
    pub fn push_block(&mut self, xs: &[T]) {
        let mut start = (self.write + 1) & self.mask;
        let mut done = 0;
        while done < xs.len() {
            let run = (xs.len() - done).min(self.buf.len() - start);
            self.buf[start..start + run].copy_from_slice(&xs[done..done + run]);
            done += run;
            start = 0;
        }
        self.write = (self.write + xs.len()) & self.mask;
    }
}

/// A Schroeder all-pass: flat magnitude, scrambled phase. Used to decorrelate and to diffuse.
#[derive(Clone, Debug, Default)]
pub struct AllPass {
    line: DelayLine,
    delay: usize,
    gain: f32,
    /// Block scratch: the delayed samples and the new line input (at most `delay` long).
    delayed: Vec<f32>,
    fed: Vec<f32>,
}

impl AllPass {
    /// An all-pass with a delay of `delay` samples and feedback `gain`.
    pub fn new(delay: usize, gain: f32) -> Self {
        let delay = delay.max(1);
        AllPass { line: DelayLine::with_capacity(delay), delay, gain, delayed: vec![0.0; delay], fed: vec![0.0; delay] }
    }

    #[inline(always)]
    /// One sample through.
    pub fn process(&mut self, x: f32) -> f32 {
        let delayed = self.line.tap(self.delay - 1);
        let v = flush(x + self.gain * delayed);
        self.line.push(v);
        delayed - self.gain * v
    }

    /// The same as [`AllPass::process`] on every sample of `xs`, in place, a block at a time: within a block
    /// shorter than the delay nothing depends on the block itself, so each step is a vector loop.
    pub fn process_block(&mut self, xs: &mut [f32]) {
        for part in xs.chunks_mut(self.delay) {
            let n = part.len();
            let (delayed, fed) = (&mut self.delayed[..n], &mut self.fed[..n]);
            self.line.read_block(self.delay - 1, delayed);
            for ((x, d), v) in part.iter_mut().zip(delayed.iter()).zip(fed.iter_mut()) {
                *v = flush(*x + self.gain * d);
                *x = d - self.gain * *v;
            }
            self.line.push_block(fed);
        }
    }

    /// Forgets its state.
    pub fn clear(&mut self) {
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_land_exactly_and_do_not_depend_on_chunking() {
        let mut a = Ramps::new([0.0, 1.0]);
        a.set([1.0, -1.0], 100);
        let mut seen = Vec::new();
        for _ in 0..150 {
            a.advance();
            seen.push(a.current);
        }
        assert_eq!(a.current, [1.0, -1.0]);
        assert_eq!(seen[99], [1.0, -1.0]);
        assert!(seen[49][0] > 0.49 && seen[49][0] < 0.51);
    }

    #[test]
    fn block_reads_and_writes_match_single_samples() {
        let mut a: DelayLine = DelayLine::with_capacity(20);
        let mut b: DelayLine = DelayLine::with_capacity(20);
        let xs: Vec<f32> = (0..100).map(|i| i as f32).collect();
        for chunk in xs.chunks(7) {
            let mut expected = vec![0.0; chunk.len()];
            for (k, e) in expected.iter_mut().enumerate() {
                *e = a.tap(12 - k);
            }
            let mut got = vec![0.0; chunk.len()];
            b.read_block(12, &mut got);
            assert_eq!(got, expected);
            chunk.iter().for_each(|&x| a.push(x));
            b.push_block(chunk);
        }
        assert_eq!(a.tap(0), 99.0);
        assert_eq!(b.tap(5), 94.0);
    }

    #[test]
    fn allpass_keeps_energy() {
        let mut ap = AllPass::new(37, 0.6);
        let mut energy = 0.0;
        for n in 0..20_000 {
            let y = ap.process(if n == 0 { 1.0 } else { 0.0 });
            energy += y * y;
        }
        assert!((energy - 1.0).abs() < 1e-3, "{energy}");
    }

    #[test]
    fn allpass_blocks_match_samples() {
        let mut a = AllPass::new(13, 0.5);
        let mut b = AllPass::new(13, 0.5);
        let xs: Vec<f32> = (0..200).map(|i| ((i * 7919) % 17) as f32 - 8.0).collect();
        let one: Vec<f32> = xs.iter().map(|&x| a.process(x)).collect();
        let mut block = xs.clone();
        for part in block.chunks_mut(37) {
            b.process_block(part);
        }
        assert_eq!(one, block);
    }

    #[test]
    fn peak_and_sum_see_every_sample() {
        let mut frames: Vec<kira::Frame> = (0..13).map(|i| kira::Frame::new(i as f32 * 0.01, -0.02)).collect();
        let (peak, sum) = peak_and_sum(&frames);
        assert!((peak - 0.12).abs() < 1e-6);
        assert!((sum - (0.78 - 0.26)).abs() < 1e-5);
        frames[12].right = -0.5;
        assert_eq!(peak_and_sum(&frames).0, 0.5);
        frames[5].left = f32::NAN;
        assert!(!peak_and_sum(&frames).1.is_finite());
    }

    #[test]
    fn one_pole_cutoff_is_sane() {
        assert_eq!(one_pole_coefficient(30_000.0, 48_000.0), 1.0);
        let a = one_pole_coefficient(1000.0, 48_000.0);
        assert!(a > 0.1 && a < 0.13, "{a}");
    }
}
