//! The per-stem chain, fused: width/pan → tilt → (pre-delayed send) → proximity → air → dry gain.
//!
//! One processor instead of six stock effects: every stage that sits at identity is skipped, and the rest run as
//! a few tight loops over the block. The send is taken after width, pan and tilt (so the reverb hears where the
//! body is) and before proximity and air (those are properties of the direct path, not of the room); the caller
//! sums the sends of all stems, in a fixed order, into the reverb.

use std::sync::Arc;

use kira::Frame;

use super::{AtomicF32, DelayLine, Ramps, flush, one_pole_coefficient};

/// The targets the chain moves to, as signal processing sees them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StemParams {
    /// The stereo image: `[[L←L, L←R], [R←L, R←R]]`.
    pub matrix: [[f32; 2]; 2],
    /// Weight of the decorrelated mid, added to the left and subtracted from the right.
    pub decorrelated: f32,
    /// Linear gain of the direct sound, and of the send to the reverb.
    pub dry_gain: f32,
    /// Linear gain of the send to the reverb.
    pub send_gain: f32,
    /// Tilt: gain below and above the pivot ([`ChainSetup::tilt_pivot_hz`]).
    pub tilt_low_gain: f32,
    /// Tilt: gain above the pivot.
    pub tilt_high_gain: f32,
    /// Low-shelf gain below [`ChainSetup::proximity_hz`] (1 = none).
    pub proximity_gain: f32,
    /// The air low-pass: its cutoff (Hz) and how much of it is mixed in (0 .. 1).
    pub air_cutoff_hz: f32,
    /// How much of the air low-pass is mixed in (0 .. 1).
    pub air_amount: f32,
    /// The send's delay (frames, fractional).
    pub pre_delay_frames: f32,
}

impl StemParams {
    /// Unity gain, centred, nothing sent, every stage at identity: the output is the input.
    pub const IDENTITY: StemParams = StemParams {
        matrix: [[1.0, 0.0], [0.0, 1.0]],
        decorrelated: 0.0,
        dry_gain: 1.0,
        send_gain: 0.0,
        tilt_low_gain: 1.0,
        tilt_high_gain: 1.0,
        proximity_gain: 1.0,
        air_cutoff_hz: f32::INFINITY,
        air_amount: 0.0,
        pre_delay_frames: 0.0,
    };

    /// A point source dead centre at unity gain, sending nothing: the output is the stem's mid on both sides.
    pub fn centred_point() -> StemParams {
        StemParams { matrix: [[0.5, 0.5], [0.5, 0.5]], ..StemParams::IDENTITY }
    }
}

/// What does not change while the chain runs: the filters' corner frequencies and the longest pre-delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainSetup {
    /// The tilt's pivot (Hz).
    pub tilt_pivot_hz: f32,
    /// The proximity shelf's corner (Hz).
    pub proximity_hz: f32,
    /// The longest pre-delay the send can take (s).
    pub max_pre_delay_s: f32,
}

/// What the stage reads back: the peak of the stem's dry output since it last looked, and faults.
#[derive(Debug, Default)]
pub struct StemMeter {
    /// Peak of the direct sound since the meter last looked.
    pub peak: AtomicF32,
    /// Set when a non-finite sample was caught (and silenced).
    pub faults: std::sync::atomic::AtomicU32,
}

impl StemChain {
    /// A chain at `initial` for `sample_rate` and blocks of at most `max_block` frames (allocates; processing
    /// never does).
    pub fn new(
        initial: StemParams,
        setup: ChainSetup,
        meter: Arc<StemMeter>,
        sample_rate: u32,
        max_block: usize,
    ) -> StemChain {
        let mut chain = StemChain {
            setup,
            params: initial,
            sample_rate: 48_000.0,
            ramps: Ramps::new([0.0; N]),
            active: Active::default(),
            tilt_a: 0.0,
            prox_a: 0.0,
            tilt_state: [0.0; 2],
            prox_state: [0.0; 2],
            air_state: [0.0; 2],
            mid: Vec::new(),
            mid_pos: 0,
            history_len: 0,
            block: 1,
            decorrelator_taps: [0; DECORRELATOR_TAPS.len()],
            pre_delay: DelayLine::default(),
            delayed_near: Vec::new(),
            delayed_far: Vec::new(),
            fed: Vec::new(),
            meter,
        };
        chain.init(sample_rate, max_block);
        chain
    }

    /// Moves every parameter to `params` along one linear ramp of `frames` samples (0: at once).
    pub fn set(&mut self, params: StemParams, frames: u32) {
        self.params = params;
        let target = self.coefficients(&params);
        self.ramps.set(target, frames);
        self.update_active();
    }
}

// Indices of the ramped coefficients.
const M_LL: usize = 0; // image matrix L←L
const M_LR: usize = 1;
const M_RL: usize = 2;
const M_RR: usize = 3;
const D_L: usize = 4; // decorrelated-mid weight into L
const D_R: usize = 5;
const DRY: usize = 6;
const SEND: usize = 7;
const TILT_HI: usize = 8; // gain above the pivot
const TILT_DIFF: usize = 9; // gain below minus gain above
const PROX: usize = 10; // low-shelf lift − 1 (linear)
const AIR_A: usize = 11; // air one-pole coefficient
const AIR_MIX: usize = 12;
const DELAY: usize = 13; // pre-delay in samples
const N: usize = 14;

/// Which stages run; a stage is skipped when it is at identity at both ends of the current ramp.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Active {
    tilt: bool,
    decorrelate: bool,
    send: bool,
    proximity: bool,
    air: bool,
}

/// The fused chain of one stem; see the module's documentation.
pub struct StemChain {
    setup: ChainSetup,
    params: StemParams,
    sample_rate: f32,
    ramps: Ramps<N>,
    active: Active,
    tilt_a: f32,
    prox_a: f32,
    tilt_state: [f32; 2],
    prox_state: [f32; 2],
    air_state: [f32; 2],
    /// The decorrelator's input: past mid samples, then the block being processed from `mid_pos` on.
    mid: Vec<f32>,
    mid_pos: usize,
    history_len: usize,
    /// Frames per block at most (kira's internal buffer size).
    block: usize,
    decorrelator_taps: [usize; DECORRELATOR_TAPS.len()],
    /// The send, stereo, waiting out the pre-delay.
    pre_delay: DelayLine<[f32; 2]>,
    /// Block scratch for the pre-delay: the two taps around the delay, and the block being written.
    delayed_near: Vec<[f32; 2]>,
    delayed_far: Vec<[f32; 2]>,
    fed: Vec<[f32; 2]>,
    meter: Arc<StemMeter>,
}

/// The decorrelator is a sparse FIR of signed, decaying taps on the mid (a "velvet noise" decorrelator, after
/// Alary, Politis & Välimäki 2017): as decorrelating as a chain of all-passes for broadband material, but one
/// delay line and four reads, and no feedback to go denormal. Taps within ~12 ms so transients do not smear.
/// (milliseconds, gain); the gains have unit energy.
const DECORRELATOR_TAPS: [(f32, f32); 4] = [(1.7, 0.62), (4.1, -0.52), (7.3, 0.44), (11.9, -0.38)];

impl StemChain {
    fn coefficients(&self, p: &StemParams) -> [f32; N] {
        let [[la, lb], [ra, rb]] = p.matrix;
        let mut c = [0.0; N];
        c[M_LL] = la;
        c[M_LR] = lb;
        c[M_RL] = ra;
        c[M_RR] = rb;
        c[D_L] = p.decorrelated;
        c[D_R] = -p.decorrelated;
        c[DRY] = p.dry_gain;
        c[SEND] = p.send_gain;
        c[TILT_HI] = p.tilt_high_gain;
        c[TILT_DIFF] = p.tilt_low_gain - p.tilt_high_gain;
        c[PROX] = p.proximity_gain - 1.0;
        c[AIR_A] = one_pole_coefficient(p.air_cutoff_hz, self.sample_rate);
        c[AIR_MIX] = p.air_amount;
        let max_delay = self.pre_delay.capacity().saturating_sub(2) as f32;
        c[DELAY] = p.pre_delay_frames.clamp(0.0, max_delay);
        c
    }

    /// Recomputes which stages must run for the current ramp; a stage switched on starts from clean state,
    /// at a sample that only depends on when the command arrived (so renders stay deterministic).
    fn update_active(&mut self) {
        let (a, b) = (self.ramps.current, *self.ramps.target());
        let either = |i: usize, identity: f32| a[i] != identity || b[i] != identity;
        let next = Active {
            tilt: either(TILT_DIFF, 0.0) || either(TILT_HI, 1.0),
            decorrelate: either(D_L, 0.0) || either(D_R, 0.0),
            send: either(SEND, 0.0),
            proximity: either(PROX, 0.0),
            air: either(AIR_MIX, 0.0),
        };
        if next.tilt && !self.active.tilt {
            self.tilt_state = [0.0; 2];
        }
        if next.decorrelate && !self.active.decorrelate {
            self.mid.iter_mut().for_each(|m| *m = 0.0);
            self.mid_pos = self.history_len;
        }
        if next.send && !self.active.send {
            self.pre_delay.clear();
        }
        if next.proximity && !self.active.proximity {
            self.prox_state = [0.0; 2];
        }
        if next.air && !self.active.air {
            self.air_state = [0.0; 2];
        }
        self.active = next;
    }

    fn reset_state(&mut self) {
        self.tilt_state = [0.0; 2];
        self.prox_state = [0.0; 2];
        self.air_state = [0.0; 2];
        self.mid.iter_mut().for_each(|m| *m = 0.0);
        self.mid_pos = self.history_len;
        self.pre_delay.clear();
    }

    /// Processes `frames` while the coefficients ramp: everything fused, one sample at a time.
    fn run_ramping(&mut self, frames: &mut [Frame], wet: &mut [[f32; 2]]) {
        let act = self.active;
        let (tilt_a, prox_a) = (self.tilt_a, self.prox_a);
        let (tilt_b, prox_b) = (1.0 - tilt_a, 1.0 - prox_a);
        let at = self.mid_pos;
        for (i, (frame, wet)) in frames.iter_mut().zip(wet.iter_mut()).enumerate() {
            self.ramps.advance();
            let c = &self.ramps.current;
            let (l, r) = (frame.left, frame.right);
            let mut pl = c[M_LL] * l + c[M_LR] * r;
            let mut pr = c[M_RL] * l + c[M_RR] * r;
            if act.decorrelate {
                self.mid[at + i] = 0.5 * (l + r);
                let mut d = 0.0;
                for (k, &(_, gain)) in DECORRELATOR_TAPS.iter().enumerate() {
                    d += gain * self.mid[at + i - self.decorrelator_taps[k]];
                }
                pl += c[D_L] * d;
                pr += c[D_R] * d;
            }
            if act.tilt {
                one_pole(&mut self.tilt_state, [pl, pr], tilt_a, tilt_b);
                pl = c[TILT_HI] * pl + c[TILT_DIFF] * self.tilt_state[0];
                pr = c[TILT_HI] * pr + c[TILT_DIFF] * self.tilt_state[1];
            }
            if act.send {
                self.pre_delay.push([pl * c[SEND], pr * c[SEND]]);
                let [wl, wr] = self.pre_delay.tap_fractional(c[DELAY]);
                wet[0] += wl;
                wet[1] += wr;
            }
            if act.proximity {
                one_pole(&mut self.prox_state, [pl, pr], prox_a, prox_b);
                pl += c[PROX] * self.prox_state[0];
                pr += c[PROX] * self.prox_state[1];
            }
            if act.air {
                one_pole(&mut self.air_state, [pl, pr], c[AIR_A], 1.0 - c[AIR_A]);
                pl += c[AIR_MIX] * (self.air_state[0] - pl);
                pr += c[AIR_MIX] * (self.air_state[1] - pr);
            }
            frame.left = pl * c[DRY];
            frame.right = pr * c[DRY];
        }
        if act.decorrelate {
            self.advance_mid(frames.len());
        }
    }

    /// Moves the decorrelator's history on by `n` samples; the buffer is long enough that the last
    /// `history_len` samples only have to be copied back to the front every few blocks.
    fn advance_mid(&mut self, n: usize) {
        self.mid_pos += n;
        if self.mid_pos + self.block > self.mid.len() {
            let h = self.history_len;
            self.mid.copy_within(self.mid_pos - h..self.mid_pos, 0);
            self.mid_pos = h;
        }
    }

    /// Processes `frames` with constant coefficients: the same per-sample arithmetic as
    /// [`Self::run_ramping`], arranged as vector loops around one pass for the three recursive filters.
    fn run_steady(&mut self, frames: &mut [Frame], wet: &mut [[f32; 2]]) {
        let n = frames.len();
        let act = self.active;
        let c = self.ramps.current;
        // Everything up to the dry gain in one pass over the block: the three filters' recursions overlap
        // across samples, and each stem touches as little memory as possible (64 stems' buffers must stay in
        // cache). Stages are chosen at compile time.
        let fed = &mut self.fed[..n];
        let pass = Pass {
            matrix: [c[M_LL], c[M_LR], c[M_RL], c[M_RR]],
            decorrelate: act.decorrelate.then_some((c[D_L], c[D_R])),
            taps: self.decorrelator_taps,
            tilt: (self.tilt_a, c[TILT_HI], c[TILT_DIFF]),
            prox: (self.prox_a, c[PROX]),
            air: (c[AIR_A], c[AIR_MIX]),
            send: c[SEND],
            dry: c[DRY],
        };
        let mut states = [self.tilt_state, self.prox_state, self.air_state];
        let mid = &mut self.mid[..self.mid_pos + n];
        let at = self.mid_pos;
        match (act.tilt, act.proximity, act.air) {
            (false, false, false) => steady_pass::<false, false, false>(&pass, &mut states, mid, at, fed, frames),
            (false, false, true) => steady_pass::<false, false, true>(&pass, &mut states, mid, at, fed, frames),
            (false, true, false) => steady_pass::<false, true, false>(&pass, &mut states, mid, at, fed, frames),
            (false, true, true) => steady_pass::<false, true, true>(&pass, &mut states, mid, at, fed, frames),
            (true, false, false) => steady_pass::<true, false, false>(&pass, &mut states, mid, at, fed, frames),
            (true, false, true) => steady_pass::<true, false, true>(&pass, &mut states, mid, at, fed, frames),
            (true, true, false) => steady_pass::<true, true, false>(&pass, &mut states, mid, at, fed, frames),
            (true, true, true) => steady_pass::<true, true, true>(&pass, &mut states, mid, at, fed, frames),
        }
        [self.tilt_state, self.prox_state, self.air_state] = states;
        if act.send {
            let delay = c[DELAY];
            let whole = delay as usize;
            if whole >= n {
                // The usual case (pre-delay longer than a block): everything read was written before this
                // block, so read it in two runs and interpolate, then write the block. Same values as below.
                let frac = delay - whole as f32;
                let (near, far) = (&mut self.delayed_near[..n], &mut self.delayed_far[..n]);
                self.pre_delay.read_block(whole - 1, near);
                self.pre_delay.read_block(whole, far);
                for ((w, a), b) in wet.iter_mut().zip(near.iter()).zip(far.iter()) {
                    w[0] += a[0] + frac * (b[0] - a[0]);
                    w[1] += a[1] + frac * (b[1] - a[1]);
                }
                self.pre_delay.push_block(fed);
            } else {
                for (f, w) in fed.iter().zip(wet.iter_mut()) {
                    self.pre_delay.push(*f);
                    let [wl, wr] = self.pre_delay.tap_fractional(delay);
                    w[0] += wl;
                    w[1] += wr;
                }
            }
        }
        if act.decorrelate {
            self.advance_mid(n);
        }
    }
}

/// One step of a one-pole low-pass on both channels, `s ← b·s + a·x` with b = 1 − a: the state's own
/// recursion is one multiply and one add (a·x is off the critical path), which is what bounds a chain of these
/// filters; the ramping and the steady passes both step through here, so they agree to the bit.
#[inline(always)]
fn one_pole(state: &mut [f32; 2], x: [f32; 2], a: f32, b: f32) {
    state[0] = b * state[0] + a * x[0];
    state[1] = b * state[1] + a * x[1];
}

/// Constant coefficients of the steady pass.
struct Pass {
    matrix: [f32; 4],
    decorrelate: Option<(f32, f32)>,
    taps: [usize; DECORRELATOR_TAPS.len()],
    tilt: (f32, f32, f32),
    prox: (f32, f32),
    air: (f32, f32),
    send: f32,
    dry: f32,
}

/// Width/pan → tilt → send tap → proximity → air → dry gain over a block, the same arithmetic per sample as
/// the ramping path; `mid[at..]` receives the block's mid for the decorrelator.
#[inline(always)]
fn steady_pass<const TILT: bool, const PROX: bool, const AIR: bool>(
    p: &Pass,
    states: &mut [[f32; 2]; 3],
    mid: &mut [f32],
    at: usize,
    fed: &mut [[f32; 2]],
    frames: &mut [Frame],
) {
    let [mut tilt, mut prox, mut air] = *states;
    let [m_ll, m_lr, m_rl, m_rr] = p.matrix;
    for (i, (frame, fed)) in frames.iter_mut().zip(fed.iter_mut()).enumerate() {
        let (l, r) = (frame.left, frame.right);
        let mut pl = m_ll * l + m_lr * r;
        let mut pr = m_rl * l + m_rr * r;
        if let Some((d_l, d_r)) = p.decorrelate {
            mid[at + i] = 0.5 * (l + r);
            let mut d = 0.0;
            for (k, &(_, gain)) in DECORRELATOR_TAPS.iter().enumerate() {
                d += gain * mid[at + i - p.taps[k]];
            }
            pl += d_l * d;
            pr += d_r * d;
        }
        if TILT {
            let (a, hi, diff) = p.tilt;
            one_pole(&mut tilt, [pl, pr], a, 1.0 - a);
            pl = hi * pl + diff * tilt[0];
            pr = hi * pr + diff * tilt[1];
        }
        *fed = [pl * p.send, pr * p.send];
        if PROX {
            let (a, lift) = p.prox;
            one_pole(&mut prox, [pl, pr], a, 1.0 - a);
            pl += lift * prox[0];
            pr += lift * prox[1];
        }
        if AIR {
            let (a, amount) = p.air;
            one_pole(&mut air, [pl, pr], a, 1.0 - a);
            pl += amount * (air[0] - pl);
            pr += amount * (air[1] - pr);
        }
        frame.left = pl * p.dry;
        frame.right = pr * p.dry;
    }
    *states = [tilt, prox, air];
}

impl StemChain {
    fn init(&mut self, sample_rate: u32, max_block: usize) {
        let block = max_block.max(1);
        self.block = block;
        self.delayed_near = vec![[0.0; 2]; block];
        self.delayed_far = vec![[0.0; 2]; block];
        self.fed = vec![[0.0; 2]; block];
        self.on_change_sample_rate(sample_rate);
        let start = self.coefficients(&self.params);
        self.ramps = Ramps::new(start);
        self.update_active();
    }

    fn on_change_sample_rate(&mut self, sample_rate: u32) {
        self.sample_rate = sample_rate as f32;
        let max_delay = (self.setup.max_pre_delay_s * self.sample_rate).ceil() as usize + 4;
        self.pre_delay = DelayLine::with_capacity(max_delay);
        for (k, &(ms, _)) in DECORRELATOR_TAPS.iter().enumerate() {
            self.decorrelator_taps[k] = (ms * 1e-3 * self.sample_rate).round() as usize;
        }
        self.history_len = self.decorrelator_taps.iter().copied().max().unwrap_or(1);
        self.mid = vec![0.0; self.history_len + 8 * self.block];
        self.mid_pos = self.history_len;
        self.tilt_a = one_pole_coefficient(self.setup.tilt_pivot_hz, self.sample_rate);
        self.prox_a = one_pole_coefficient(self.setup.proximity_hz, self.sample_rate);
        self.ramps = Ramps::new(self.coefficients(&self.params));
        self.active = Active::default();
        self.update_active();
    }

    /// Processes `input` in place (the direct sound) and writes the send into `wet` (same length); blocks of
    /// at most the `max_block` given to `StemChain::init`. Returns whether anything was sent.
    pub fn process(&mut self, input: &mut [Frame], wet: &mut [[f32; 2]]) -> bool {
        let sends_before = self.active.send;
        if sends_before {
            wet.iter_mut().for_each(|w| *w = [0.0; 2]);
        }
        let ramping = (self.ramps.remaining() as usize).min(input.len());
        let (head, tail) = input.split_at_mut(ramping);
        let (wet_head, wet_tail) = wet.split_at_mut(ramping);
        if !head.is_empty() {
            self.run_ramping(head, wet_head);
            if self.ramps.remaining() == 0 {
                self.update_active();
            }
        }
        if !tail.is_empty() {
            self.run_steady(tail, wet_tail);
        }
        // Guard: one check per chunk; a non-finite value anywhere poisons the sum.
        let (peak, sum) = super::peak_and_sum(input);
        let sent = sends_before && sum.is_finite();
        if !sum.is_finite() {
            input.iter_mut().for_each(|f| *f = Frame::ZERO);
            self.reset_state();
            self.meter.faults.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for s in self.tilt_state.iter_mut().chain(&mut self.prox_state).chain(&mut self.air_state) {
            *s = flush(*s);
        }
        if sum.is_finite() {
            self.meter.peak.fetch_max(peak);
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETUP: ChainSetup = ChainSetup { tilt_pivot_hz: 800.0, proximity_hz: 150.0, max_pre_delay_s: 0.1 };

    fn chain(params: StemParams) -> StemChain {
        StemChain::new(params, SETUP, Arc::new(StemMeter::default()), 48_000, 128)
    }

    #[test]
    fn a_centred_point_plays_the_mid_on_both_sides() {
        let mut fx = chain(StemParams::centred_point());
        let input: Vec<Frame> = (0..128).map(|i| Frame::new((i as f32 * 0.1).sin(), (i as f32 * 0.07).cos())).collect();
        let mut out = input.clone();
        let mut wet = vec![[0.0; 2]; 128];
        fx.process(&mut out, &mut wet);
        for (o, i) in out.iter().zip(&input) {
            let mid = 0.5 * (i.left + i.right);
            assert!((o.left - mid).abs() < 1e-6 && (o.right - mid).abs() < 1e-6, "{o:?} vs {mid}");
        }
    }

    #[test]
    fn non_finite_input_is_silenced_and_counted() {
        let meter = Arc::new(StemMeter::default());
        let mut fx = StemChain::new(StemParams::centred_point(), SETUP, meter.clone(), 48_000, 128);
        let mut out = vec![Frame::new(0.5, 0.5); 128];
        let mut wet = vec![[0.0; 2]; 128];
        out[17].left = f32::NAN;
        fx.process(&mut out, &mut wet);
        assert!(out.iter().all(|f| f.left == 0.0 && f.right == 0.0));
        assert_eq!(meter.faults.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
