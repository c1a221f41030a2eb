//! One stem as the audio thread runs it: its source, its spoil macro and its chain.

use kira::Frame;

use super::transport::ChunkPlan;
use crate::mix::effects::spoil::Spoil;
use crate::mix::effects::stem_chain::StemChain;
use crate::mix::input::source::SourceReader;

/// The most frames processed at once (kira's internal buffer size; longer calls are split).
pub const MAX_CHUNK: usize = 128;

pub(crate) struct StemUnit {
    pub reader: SourceReader,
    pub stem_frames: u64,
    /// Channels of the source (a stereo stem keeps its image, a mono one is widened by decorrelation).
    pub channels: usize,
    pub spoil: Spoil,
    pub chain: StemChain,
    pub dry: Vec<Frame>,
    pub wet: Vec<[f32; 2]>,
    pub sent: bool,
}

impl StemUnit {
    pub fn new(reader: SourceReader, stem_frames: u64, channels: usize, spoil: Spoil, chain: StemChain) -> StemUnit {
        StemUnit {
            reader,
            stem_frames,
            channels,
            spoil,
            chain,
            dry: vec![Frame::ZERO; MAX_CHUNK],
            wet: vec![[0.0; 2]; MAX_CHUNK],
            sent: false,
        }
    }

    /// One chunk: the source for the frames the transport plays (faded as it says), then spoil and chain.
    pub fn run(&mut self, plan: &ChunkPlan) {
        let n = plan.frames;
        let dry = &mut self.dry[..n];
        if plan.advance > 0 {
            let heard = &mut dry[..plan.advance];
            self.reader.read(&plan.pass, self.stem_frames, plan.q, heard, plan.wait);
            if plan.gains_move() {
                for (k, f) in heard.iter_mut().enumerate() {
                    let g = plan.gain_at(k);
                    *f = Frame::new(f.left * g, f.right * g);
                }
            }
        }
        dry[plan.advance..].fill(Frame::ZERO);
        self.spoil.process_frames(dry);
        self.sent = self.chain.process(dry, &mut self.wet[..n]);
    }
}
