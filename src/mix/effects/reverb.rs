//! The shared room: one stereo feedback-delay-network reverb fed by the sum of every stem's send.
//!
//! Its parameters are physical (room size in metres, RT60 in seconds, the damping low-pass in hertz, the return
//! gain); all of them glide, sample by sample, so moving a slider or morphing two scenes never clicks. While
//! the room's size glides, the lines' lengths move with it (read with linear interpolation, as a tape would
//! speed up); while nothing moves, blocks run through in a few vector loops with exactly the same arithmetic.

use kira::Frame;

use super::{AllPass, DelayLine, Ramps, flush, one_pole_coefficient};

/// The room the reverb models.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReverbParams {
    /// Room length (m): scales the delay lines.
    pub size_m: f32,
    /// Reverberation time RT60 (s).
    pub decay_s: f32,
    /// Cutoff of the in-loop low-pass (Hz): lower is darker.
    pub damping_hz: f32,
    /// Linear return gain (0 = off).
    pub return_gain: f32,
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
/// The in-loop low-pass takes energy out of the tail: of a white input, about 3 dB for every octave its cutoff
/// sits below this (measured: 2.5, 5.0, 7.6 and 10.1 dB at 8, 4, 2.1 and 1.5 kHz, whatever the RT60 from 1 s
/// up). The output is raised by as much, so unit energy in gives unit energy out at any damping, and the
/// direct-to-reverb ratio the mapping promises is what is heard.
const UNDAMPED_HZ: f32 = 16_000.0;
const DAMPING_LOSS_DB_PER_OCTAVE: f32 = 2.96;

// The ramped values: the lines' lengths (samples), their gains, the damping coefficient, the output scale and
// the return gain.
const LENGTH: usize = 0;
const GAIN: usize = LINES;
const DAMP: usize = 2 * LINES;
const SCALE: usize = 2 * LINES + 1;
const RETURN: usize = 2 * LINES + 2;
const RAMPED: usize = 2 * LINES + 3;

/// A stereo 8-line feedback delay network with a Householder feedback matrix (lossless, cheap: O(N)),
/// per-line gains set for the RT60, an in-loop low-pass for damping and all-pass input diffusion.
pub struct Reverb {
    sample_rate: f32,
    lines: Vec<DelayLine>,
    ramps: Ramps<RAMPED>,
    damp_state: [f32; LINES],
    diffusers: [Vec<AllPass>; 2],
    /// Shortest line in samples (when still): blocks never exceed it.
    min_length: usize,
    /// Per-block scratch.
    input: [Vec<f32>; 2],
    taps: [Vec<f32>; LINES],
    feedback: [Vec<f32>; LINES],
    reflect: Vec<f32>,
}

impl Reverb {
    /// A room at `params`, for blocks of at most `max_block` frames (allocates; processing never does).
    pub fn new(params: ReverbParams, sample_rate: u32, max_block: usize) -> Reverb {
        let sample_rate = sample_rate as f32;
        let block = max_block.max(1);
        let longest = BASE_LENGTHS_S.iter().cloned().fold(0.0, f32::max) * SCALE_RANGE.1;
        let capacity = (longest * sample_rate).ceil() as usize + 4;
        let mut reverb = Reverb {
            sample_rate,
            lines: (0..LINES).map(|_| DelayLine::with_capacity(capacity)).collect(),
            ramps: Ramps::new([0.0; RAMPED]),
            damp_state: [0.0; LINES],
            diffusers: DIFFUSER_MS.map(|delays| {
                delays
                    .iter()
                    .map(|ms| AllPass::new((ms * 1e-3 * sample_rate).round() as usize, DIFFUSER_GAIN))
                    .collect()
            }),
            min_length: 1,
            input: [vec![0.0; block], vec![0.0; block]],
            taps: std::array::from_fn(|_| vec![0.0; block]),
            feedback: std::array::from_fn(|_| vec![0.0; block]),
            reflect: vec![0.0; block],
        };
        reverb.ramps = Ramps::new(reverb.targets(&params));
        reverb.min_length = reverb.shortest();
        reverb
    }

    /// Glides to `params` over `frames` samples (0: at once).
    pub fn set(&mut self, params: ReverbParams, frames: u32) {
        let targets = self.targets(&params);
        if &targets != self.ramps.target() {
            self.ramps.set(targets, frames);
        }
    }

    fn targets(&self, p: &ReverbParams) -> [f32; RAMPED] {
        let sr = self.sample_rate;
        let scale = (p.size_m / BASE_ROOM_M).clamp(SCALE_RANGE.0, SCALE_RANGE.1);
        let decay = p.decay_s.max(0.05);
        let capacity = self.lines[0].capacity();
        let mut t = [0.0; RAMPED];
        let mut mean_length = 0.0;
        for i in 0..LINES {
            let length = ((BASE_LENGTHS_S[i] * scale * sr).round() as usize).clamp(2, capacity - 2) as f32;
            t[LENGTH + i] = length;
            // Each pass through a line must lose length/(RT60·sr) of 60 dB.
            t[GAIN + i] = 10f32.powf(-3.0 * length / (sr * decay));
            mean_length += length / LINES as f32;
        }
        t[DAMP] = one_pole_coefficient(p.damping_hz, sr);
        // Unit energy in should give about unit energy out: the energy stored in the lines decays as
        // exp(-13.8·t/RT60) (sum over time: RT60·sr/13.8) and the output reads LINES of the LINES·mean_length
        // cells each sample. That estimate came out 3 dB low against the measured impulse responses (the
        // alternating output signs add the taps' energies, not their amplitudes): hence 2 × 13.8.
        let octaves_damped = (UNDAMPED_HZ / p.damping_hz.max(1.0)).log2().max(0.0);
        let damping_makeup = 10f32.powf(DAMPING_LOSS_DB_PER_OCTAVE * octaves_damped / 20.0);
        t[SCALE] = (2.0 * 13.8 * mean_length / (decay * sr)).sqrt() * damping_makeup;
        t[RETURN] = p.return_gain;
        t
    }

    fn shortest(&self) -> usize {
        (0..LINES).map(|i| self.ramps.current[LENGTH + i] as usize).min().unwrap_or(2).max(2) - 1
    }

    fn reset(&mut self) {
        self.lines.iter_mut().for_each(DelayLine::clear);
        self.damp_state = [0.0; LINES];
        self.diffusers.iter_mut().flatten().for_each(AllPass::clear);
    }

    /// Adds the room's return of `send` (the stems' summed send, one frame per output frame) to `out`.
    pub fn process(&mut self, send: &[[f32; 2]], out: &mut [Frame]) {
        let mut done = 0;
        let mut energy = 0.0f32;
        while done < out.len() {
            if self.ramps.remaining() > 0 {
                // Gliding: sample by sample, the lines read at their moving lengths.
                self.ramps.advance();
                energy += self.process_sample(send[done], &mut out[done]);
                done += 1;
                if self.ramps.remaining() == 0 {
                    self.min_length = self.shortest();
                }
                continue;
            }
            // Still: every line is longer than a block, so a whole block of each line's output was written
            // before the block began: read it in one go, mix, and write the block back.
            let n = (out.len() - done).min(self.min_length).min(self.reflect.len()).max(1);
            energy += self.process_block(&send[done..done + n], &mut out[done..done + n]);
            done += n;
        }
        if !energy.is_finite() {
            // Something upstream slipped through; start the room over rather than ring forever.
            out.iter_mut().for_each(|f| *f = Frame::ZERO);
            self.reset();
        }
    }

    /// One frame while the parameters glide: the same arithmetic as [`Reverb::process_block`], with the lines
    /// read at fractional lengths. Returns what was added (for the fault check).
    fn process_sample(&mut self, send: [f32; 2], frame: &mut Frame) -> f32 {
        let c = self.ramps.current;
        let mut x = send;
        for (side, v) in x.iter_mut().enumerate() {
            for ap in &mut self.diffusers[side] {
                *v = ap.process(*v);
            }
        }
        let mut taps = [0.0f32; LINES];
        let a = c[DAMP];
        for i in 0..LINES {
            let t = self.lines[i].tap_fractional(c[LENGTH + i] - 1.0);
            self.damp_state[i] = flush(self.damp_state[i] + a * (t - self.damp_state[i]));
            taps[i] = self.damp_state[i] * c[GAIN + i];
        }
        let reflect = taps.iter().sum::<f32>() * (2.0 / LINES as f32);
        for i in 0..LINES {
            let sign = if i % 4 < 2 { 0.5 } else { -0.5 };
            self.lines[i].push(flush(taps[i] - reflect + sign * x[i % 2]));
        }
        let g = c[RETURN] * c[SCALE];
        let wl = (taps[0] - taps[2] + taps[4] - taps[6]) * g;
        let wr = (taps[1] - taps[3] + taps[5] - taps[7]) * g;
        frame.left += wl;
        frame.right += wr;
        wl + wr
    }

    fn process_block(&mut self, send: &[[f32; 2]], part: &mut [Frame]) -> f32 {
        let n = part.len();
        let c = self.ramps.current;
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
            self.lines[i].read_block(c[LENGTH + i] as usize - 1, &mut self.taps[i][..n]);
        }
        let a = c[DAMP];
        let gains: [f32; LINES] = std::array::from_fn(|i| c[GAIN + i]);
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
        let g = c[RETURN] * c[SCALE];
        for (k, frame) in part.iter_mut().enumerate() {
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
        energy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(decay_s: f32) -> ReverbParams {
        ReverbParams { size_m: 12.0, decay_s, damping_hz: 16_000.0, return_gain: 1.0 }
    }

    fn render_impulse_response(decay_s: f32, seconds: f32) -> Vec<Frame> {
        let mut fx = Reverb::new(params(decay_s), 48_000, 128);
        let mut out = Vec::new();
        let blocks = (seconds * 48_000.0 / 128.0) as usize;
        for b in 0..blocks {
            let mut send = vec![[0.0f32; 2]; 128];
            if b == 0 {
                send[0] = [1.0, 0.0];
            }
            let mut chunk = vec![Frame::ZERO; 128];
            fx.process(&send, &mut chunk);
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
        let clean = |x: f32| x.is_finite() && !x.is_subnormal();
        assert!(ir.iter().all(|f| clean(f.left)), "the left channel's tail is finite and has no subnormals");
        assert!(ir.iter().all(|f| clean(f.right)), "the right channel's tail is finite and has no subnormals");
    }

    #[test]
    fn the_room_glides_without_a_step() {
        // Noise in, the room grows from 6 m to 24 m and darkens over 50 ms: no sample jumps further than the
        // signal itself moves from one sample to the next.
        let mut fx = Reverb::new(ReverbParams { size_m: 6.0, ..params(1.5) }, 48_000, 128);
        let mut seed = 1u32;
        let mut noise = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32 - 0.5) * 0.1
        };
        let mut out = Vec::new();
        for b in 0..400 {
            if b == 200 {
                fx.set(ReverbParams { size_m: 24.0, damping_hz: 3_000.0, ..params(1.5) }, 2400);
            }
            let send: Vec<[f32; 2]> = (0..128).map(|_| [noise(), noise()]).collect();
            let mut chunk = vec![Frame::ZERO; 128];
            fx.process(&send, &mut chunk);
            out.extend(chunk.iter().map(|f| f.left));
        }
        let steps =
            |range: std::ops::Range<usize>| out[range].windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
        let before = steps(100 * 128..200 * 128);
        let during = steps(200 * 128..220 * 128);
        assert!(during < 2.0 * before, "the glide steps by {during}, the tail itself by {before}");
    }

    #[test]
    fn blocks_and_single_frames_agree_while_still() {
        let run = |block: usize| {
            let mut fx = Reverb::new(params(1.2), 48_000, 128);
            let send: Vec<[f32; 2]> = (0..4096).map(|i| [((i * 7) % 13) as f32 * 0.01, 0.0]).collect();
            let mut out = vec![Frame::ZERO; 4096];
            for (s, o) in send.chunks(block).zip(out.chunks_mut(block)) {
                fx.process(s, o);
            }
            out
        };
        assert!(run(1) == run(128) && run(37) == run(128));
    }
}
