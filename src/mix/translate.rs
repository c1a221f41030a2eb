//! The one place where the mapping meets the effects: a body's [`StemMix`] becomes the stem chain's matrix,
//! gains, cutoffs and delays and the spoil macro's idea of how the stem is heard; a room becomes the reverb's
//! settings; the master's decibels become its gain. Effects know only these numbers, never the mapping.

use super::effects::master::MasterParams;
use super::effects::reverb::ReverbParams;
use super::effects::spoil::Hearing;
use super::effects::stem_chain::{ChainSetup, StemParams};
use super::mapping::{self, StemMix};
use crate::scene::{Room, limits};

/// Damping maps 0..1 to the reverb's in-loop low-pass, from 16 kHz (bright) down to 1.5 kHz (dark),
/// geometrically.
pub const DAMPING_CUTOFF_HZ: (f32, f32) = (16_000.0, 1_500.0);

/// The stem chain's fixed corners: the tilt's pivot, the proximity shelf, the longest pre-delay.
pub fn chain_setup() -> ChainSetup {
    ChainSetup {
        tilt_pivot_hz: mapping::TILT_PIVOT_HZ,
        proximity_hz: mapping::PROXIMITY_SHELF_HZ,
        max_pre_delay_s: mapping::MAX_PRE_DELAY_S,
    }
}

/// The chain's targets for a mapping, for a source with `channels` channels at `sample_rate`: a stereo stem's
/// two channels span the image width the mapping gives; a mono stem has no image of its own, so its two
/// (equal) channels sit at its spread, as every stem's decorrelated width does.
pub fn stem_params(mix: &StemMix, channels: usize, sample_rate: u32) -> StemParams {
    let width = if channels >= 2 { mix.width } else { mix.spread };
    let [[la, lb], [ra, rb]] = mapping::image_matrix(mix.pan, width);
    let (direct, decorrelated) = mapping::decorrelation(mix.spread);
    StemParams {
        matrix: [[direct * la, direct * lb], [direct * ra, direct * rb]],
        decorrelated,
        dry_gain: mapping::db_to_amp(mix.dry_db),
        send_gain: mapping::db_to_amp(mix.reverb_send_db),
        tilt_low_gain: 10f32.powf(-mix.tilt_db / 40.0),
        tilt_high_gain: 10f32.powf(mix.tilt_db / 40.0),
        proximity_gain: 10f32.powf(mix.proximity_db / 20.0),
        air_cutoff_hz: mix.air_cutoff_hz.unwrap_or(f32::INFINITY),
        air_amount: mix.air_amount,
        pre_delay_frames: mix.pre_delay_s * sample_rate as f32,
    }
}

/// How the stem chain colours the stem after the spoil stages (so the spoil's loudness match hears it so).
pub fn hearing(mix: &StemMix) -> Hearing {
    Hearing {
        tilt_pivot_hz: mapping::TILT_PIVOT_HZ,
        tilt_low_gain: 10f32.powf(-mix.tilt_db / 40.0),
        tilt_high_gain: 10f32.powf(mix.tilt_db / 40.0),
        proximity_hz: mapping::PROXIMITY_SHELF_HZ,
        proximity_gain: 10f32.powf(mix.proximity_db / 20.0),
        air_cutoff_hz: mix.air_cutoff_hz.unwrap_or(f32::INFINITY),
        air_amount: mix.air_amount,
    }
}

/// The room's reverb trim is already in each stem's send (so the mapping's DRR is what is heard); the return
/// carries only its own fader (the timeline cuts the tail with it), and switches off when either is at its
/// minimum.
pub fn reverb_params(room: &Room) -> ReverbParams {
    let off = room.reverb_db <= limits::REVERB_DB.0;
    let cut = room.return_db <= limits::EFFECTS_DB.0;
    let (bright, dark) = DAMPING_CUTOFF_HZ;
    ReverbParams {
        size_m: room.size,
        decay_s: room.decay_s,
        damping_hz: bright * (dark / bright).powf(room.damping.clamp(0.0, 1.0)),
        return_gain: if off || cut { 0.0 } else { mapping::db_to_amp(Some(room.return_db)) },
    }
}

/// The master's gain and ceiling.
pub fn master_params(gain_db: f32, ceiling_dbtp: f32) -> MasterParams {
    MasterParams { gain: mapping::db_to_amp(Some(gain_db)), ceiling_dbtp }
}
