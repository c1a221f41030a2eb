//! The shared room: a bus every stem sends into, and one stereo feedback-delay-network reverb that returns it.
//!
//! kira's own sends are post-fader and cannot carry a per-stem pre-delay, so each stem chain adds its
//! pre-delayed send into [`ReverbBus`]; the [`ReverbReturn`] effect, first on the main track, drains it. kira
//! processes every sub-track before the main track within a chunk, on one audio thread, so the bus needs no
//! lock: relaxed atomics make the sharing safe Rust and cost a plain load and store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use kira::Frame;
use kira::command::{CommandReader, CommandWriter, command_writer_and_reader};
use kira::effect::{Effect, EffectBuilder};
use kira::info::Info;

use super::{AllPass, DelayLine, Ramps, flush, one_pole_coefficient};

/// One chunk of stereo send, summed over all stems.
pub struct ReverbBus {
    samples: Box<[[AtomicU32; 2]]>,
}

impl ReverbBus {
    /// A bus for chunks of up to `max_frames` (kira's internal buffer size).
    pub fn new(max_frames: usize) -> Self {
        ReverbBus { samples: (0..max_frames.max(1)).map(|_| [AtomicU32::new(0), AtomicU32::new(0)]).collect() }
    }

    pub fn max_frames(&self) -> usize {
        self.samples.len()
    }

    /// Adds one stem's send for this chunk.
    pub fn add(&self, wet: &[[f32; 2]]) {
        for (slot, w) in self.samples.iter().zip(wet) {
            for ch in 0..2 {
                let v = f32::from_bits(slot[ch].load(Ordering::Relaxed)) + w[ch];
                slot[ch].store(v.to_bits(), Ordering::Relaxed);
            }
        }
    }

    /// Takes this chunk's sum into `out` and leaves the bus at zero for the next chunk. (A plain load and store,
    /// not an atomic swap: the one writer and the one reader run one after the other on the audio thread.)
    pub fn drain(&self, out: &mut [[f32; 2]]) {
        for (slot, o) in self.samples.iter().zip(out.iter_mut()) {
            for ch in 0..2 {
                o[ch] = f32::from_bits(slot[ch].load(Ordering::Relaxed));
                slot[ch].store(0, Ordering::Relaxed);
            }
        }
    }
}

/// The room the reverb models (from the scene's `room`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReverbParams {
    pub size_m: f32,
    pub decay_s: f32,
    pub damping: f32,
    /// Linear return gain (0 = off).
    pub return_gain: f32,
}

pub struct ReverbReturnBuilder {
    pub params: ReverbParams,
    pub bus: Arc<ReverbBus>,
}

pub struct ReverbReturnHandle {
    commands: CommandWriter<(ReverbParams, f32)>,
}

impl ReverbReturnHandle {
    /// Changes the room. The return gain ramps over `ramp_s`; size, decay and damping change at once.
    pub fn set(&mut self, params: ReverbParams, ramp_s: f32) {
        self.commands.write((params, ramp_s.max(0.0)));
    }
}

impl EffectBuilder for ReverbReturnBuilder {
    type Handle = ReverbReturnHandle;

    fn build(self) -> (Box<dyn Effect>, ReverbReturnHandle) {
        let (writer, reader) = command_writer_and_reader();
        let fx = ReverbReturn {
            commands: reader,
            params: self.params,
            bus: self.bus,
            sample_rate: 48_000.0,
            lines: Vec::new(),
            lengths: [1; LINES],
            gains: [0.0; LINES],
            damp_a: 1.0,
            damp_state: [0.0; LINES],
            diffusers: [Vec::new(), Vec::new()],
            output_scale: 0.0,
            return_gain: Ramps::new([self.params.return_gain]),
            min_length: 1,
            send: Vec::new(),
            input: Default::default(),
            taps: Default::default(),
            feedback: Default::default(),
            reflect: Vec::new(),
        };
        (Box::new(fx), ReverbReturnHandle { commands: writer })
    }
}

const LINES: usize = 8;
/// Delay-line lengths (s) for a 12 m room: mutually incommensurate, spanning ~30-75 ms like a mid-size hall's
/// mean free path. They scale with the room, within limits that keep the tail dense and the memory bounded.
const BASE_LENGTHS_S: [f32; LINES] = [0.0297, 0.0371, 0.0411, 0.0437, 0.0533, 0.0599, 0.0671, 0.0737];
const BASE_ROOM_M: f32 = 12.0;
const SCALE_RANGE: (f32, f32) = (0.35, 2.5);
/// Input diffusion (ms per channel, different per side for a decorrelated stereo field).
const DIFFUSER_MS: [[f32; 2]; 2] = [[4.77, 1.27], [4.31, 1.53]];
const DIFFUSER_GAIN: f32 = 0.62;
/// Damping maps 0..1 to an in-loop low-pass from 16 kHz down to 1.5 kHz.
const DAMPING_CUTOFF_HZ: (f32, f32) = (16_000.0, 1_500.0);

/// A stereo 8-line feedback delay network with a Householder feedback matrix (lossless, cheap: O(N)),
/// per-line gains set for the RT60, an in-loop low-pass for damping and all-pass input diffusion.
struct ReverbReturn {
    commands: CommandReader<(ReverbParams, f32)>,
    params: ReverbParams,
    bus: Arc<ReverbBus>,
    sample_rate: f32,
    lines: Vec<DelayLine>,
    lengths: [usize; LINES],
    gains: [f32; LINES],
    damp_a: f32,
    damp_state: [f32; LINES],
    diffusers: [Vec<AllPass>; 2],
    output_scale: f32,
    return_gain: Ramps<1>,
    /// Shortest line in samples: blocks never exceed it.
    min_length: usize,
    /// Per-block scratch, sized in `init`.
    send: Vec<[f32; 2]>,
    input: [Vec<f32>; 2],
    taps: [Vec<f32>; LINES],
    feedback: [Vec<f32>; LINES],
    reflect: Vec<f32>,
}

impl ReverbReturn {
    fn configure_room(&mut self) {
        let sr = self.sample_rate;
        let scale = (self.params.size_m / BASE_ROOM_M).clamp(SCALE_RANGE.0, SCALE_RANGE.1);
        let mut mean_length = 0.0;
        for i in 0..LINES {
            let length = ((BASE_LENGTHS_S[i] * scale * sr).round() as usize).clamp(2, self.lines[i].capacity());
            self.lengths[i] = length;
            // Each pass through a line must lose length/(RT60·sr) of 60 dB.
            self.gains[i] = 10f32.powf(-3.0 * length as f32 / (sr * self.params.decay_s.max(0.05)));
            mean_length += length as f32 / LINES as f32;
        }
        self.min_length = self.lengths.iter().copied().min().unwrap_or(2) - 1;
        let (bright, dark) = DAMPING_CUTOFF_HZ;
        let cutoff = bright * (dark / bright).powf(self.params.damping.clamp(0.0, 1.0));
        self.damp_a = one_pole_coefficient(cutoff, sr);
        // Unit energy in should give about unit energy out: the energy stored in the lines decays as
        // exp(-13.8·t/RT60) (sum over time: RT60·sr/13.8) and the output reads LINES of the LINES·mean_length
        // cells each sample. That estimate came out 3 dB low against the measured impulse responses (the
        // alternating output signs add the taps' energies, not their amplitudes): hence 2 × 13.8.
        let decay_samples = self.params.decay_s.max(0.05) * sr;
        self.output_scale = (2.0 * 13.8 * mean_length / decay_samples).sqrt();
    }

    fn reset(&mut self) {
        self.lines.iter_mut().for_each(DelayLine::clear);
        self.damp_state = [0.0; LINES];
        self.diffusers.iter_mut().flatten().for_each(AllPass::clear);
    }
}

impl Effect for ReverbReturn {
    fn init(&mut self, sample_rate: u32, internal_buffer_size: usize) {
        let block = internal_buffer_size.max(self.bus.max_frames());
        self.send = vec![[0.0; 2]; block];
        self.input = [vec![0.0; block], vec![0.0; block]];
        self.taps = std::array::from_fn(|_| vec![0.0; block]);
        self.feedback = std::array::from_fn(|_| vec![0.0; block]);
        self.reflect = vec![0.0; block];
        self.on_change_sample_rate(sample_rate);
    }

    fn on_change_sample_rate(&mut self, sample_rate: u32) {
        self.sample_rate = sample_rate as f32;
        let longest = BASE_LENGTHS_S.iter().cloned().fold(0.0, f32::max) * SCALE_RANGE.1;
        let capacity = (longest * self.sample_rate).ceil() as usize + 4;
        self.lines = (0..LINES).map(|_| DelayLine::with_capacity(capacity)).collect();
        for (side, delays) in DIFFUSER_MS.iter().enumerate() {
            self.diffusers[side] = delays
                .iter()
                .map(|ms| AllPass::new((ms * 1e-3 * self.sample_rate).round() as usize, DIFFUSER_GAIN))
                .collect();
        }
        self.damp_state = [0.0; LINES];
        self.configure_room();
    }

    fn on_start_processing(&mut self) {
        if let Some((params, ramp_s)) = self.commands.read() {
            let room_changed = (params.size_m, params.decay_s, params.damping)
                != (self.params.size_m, self.params.decay_s, self.params.damping);
            self.params = params;
            if room_changed {
                self.configure_room();
            }
            self.return_gain.set([params.return_gain], (ramp_s * self.sample_rate).round() as u32);
        }
    }

    fn process(&mut self, input: &mut [Frame], _dt: f64, _info: &Info) {
        // Every line is longer than a block, so a whole block of each line's output was written before the
        // block began: read it in one go, mix, and write the block back. Same arithmetic as sample by sample.
        let block = self.send.len().min(self.min_length).max(1);
        for part in input.chunks_mut(block) {
            self.process_block(part);
        }
    }
}

impl ReverbReturn {
    fn process_block(&mut self, part: &mut [Frame]) {
        let n = part.len();
        let send = &mut self.send[..n];
        self.bus.drain(send);
        let [in_l, in_r] = &mut self.input;
        for ((s, l), r) in send.iter().zip(in_l.iter_mut()).zip(in_r.iter_mut()) {
            *l = s[0];
            *r = s[1];
        }
        for (side, input) in self.input.iter_mut().enumerate() {
            for ap in &mut self.diffusers[side] {
                ap.process_block(&mut input[..n]);
            }
        }
        // Each line's output over the block, damped and attenuated for the decay. The eight lines step
        // together, sample by sample, so their eight independent recursions overlap in the CPU.
        for i in 0..LINES {
            self.lines[i].read_block(self.lengths[i] - 1, &mut self.taps[i][..n]);
        }
        let (a, gains) = (self.damp_a, self.gains);
        let mut state = self.damp_state;
        let taps = self.taps.each_mut().map(|t| &mut t[..n]);
        for k in 0..n {
            for i in 0..LINES {
                // With little damping (1 - a) is small and the state can fall into the subnormal range within
                // a few samples, so it is flushed every sample.
                state[i] = flush(state[i] + a * (taps[i][k] - state[i]));
                taps[i][k] = state[i] * gains[i];
            }
        }
        self.damp_state = state;
        // Householder feedback (x − (2/N)·Σx, energy-preserving) plus the input: left into even lines, right
        // into odd, alternating signs, 0.5 each (4 lines × 0.5² = unit energy per side). Written as passes over
        // the block, line by line, so each pass is a simple vector loop.
        let reflect = &mut self.reflect[..n];
        reflect.copy_from_slice(&self.taps[0][..n]);
        for i in 1..LINES {
            for (r, t) in reflect.iter_mut().zip(&self.taps[i][..n]) {
                *r += t;
            }
        }
        reflect.iter_mut().for_each(|r| *r *= 2.0 / LINES as f32);
        for i in 0..LINES {
            let x = &self.input[i % 2][..n];
            let sign = if i % 4 < 2 { 0.5 } else { -0.5 };
            for (((f, t), r), x) in self.feedback[i][..n].iter_mut().zip(&self.taps[i][..n]).zip(reflect.iter()).zip(x)
            {
                // Flushed here, in the loop that closes the feedback: tiny differences of nearly equal taps
                // would otherwise recirculate down into the subnormal range.
                *f = flush(t - r + sign * x);
            }
        }
        let mut energy = 0.0f32;
        for (k, frame) in part.iter_mut().enumerate() {
            self.return_gain.advance();
            let g = self.return_gain.current[0] * self.output_scale;
            let t = &self.taps;
            let wl = (t[0][k] - t[2][k] + t[4][k] - t[6][k]) * g;
            let wr = (t[1][k] - t[3][k] + t[5][k] - t[7][k]) * g;
            energy += wl + wr;
            frame.left += wl;
            frame.right += wr;
        }
        for i in 0..LINES {
            self.lines[i].push_block(&self.feedback[i][..n]);
        }
        if !energy.is_finite() {
            // Something upstream slipped through; start the room over rather than ring forever.
            part.iter_mut().for_each(|f| *f = Frame::ZERO);
            self.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kira::info::MockInfoBuilder;

    fn render_impulse_response(decay_s: f32, seconds: f32) -> Vec<Frame> {
        let bus = Arc::new(ReverbBus::new(128));
        let params = ReverbParams { size_m: 12.0, decay_s, damping: 0.0, return_gain: 1.0 };
        let (mut fx, _h) = ReverbReturnBuilder { params, bus: bus.clone() }.build();
        fx.init(48_000, 128);
        let info = MockInfoBuilder::new().build();
        let mut out = Vec::new();
        let blocks = (seconds * 48_000.0 / 128.0) as usize;
        for b in 0..blocks {
            if b == 0 {
                let mut impulse = vec![[0.0f32; 2]; 128];
                impulse[0] = [1.0, 0.0];
                bus.add(&impulse);
            }
            let mut chunk = vec![Frame::ZERO; 128];
            fx.process(&mut chunk, 1.0 / 48_000.0, &info);
            out.extend(chunk);
        }
        out
    }

    fn energy(frames: &[Frame]) -> f64 {
        frames.iter().map(|f| (f.left as f64).powi(2) + (f.right as f64).powi(2)).sum()
    }

    #[test]
    fn decays_by_sixty_db_in_about_the_rt60() {
        let ir = render_impulse_response(1.0, 2.0);
        let window = 4800; // 100 ms
        let early = energy(&ir[4800..4800 + window]);
        let later = energy(&ir[4800 + 24_000..4800 + 24_000 + window]); // 0.5 s later: -30 dB expected
        let drop_db = 10.0 * (early / later).log10();
        assert!((drop_db - 30.0).abs() < 6.0, "dropped {drop_db} dB in half the RT60");
    }

    #[test]
    fn unit_energy_in_gives_about_unit_energy_out() {
        for decay in [0.5, 1.6, 4.0] {
            let ir = render_impulse_response(decay, decay * 1.5);
            let e_db = 10.0 * energy(&ir).log10();
            eprintln!("decay {decay}: impulse response energy {e_db:.2} dB");
            assert!(e_db.abs() < 1.5, "decay {decay}: {e_db} dB");
        }
    }

    #[test]
    fn tail_is_free_of_subnormals_and_nan() {
        let ir = render_impulse_response(0.3, 6.0);
        assert!(ir.iter().all(|f| f.left.is_finite() && !f.left.is_subnormal() && !f.right.is_subnormal()));
    }
}
