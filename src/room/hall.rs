//! The room's shared state: who is in it, who holds which stem, the vote, the listening round and the pinned
//! notes; what the phones asked for, queued for the stage; and the room as the phones see it. The server's
//! connections and the stage both work on it through short locks (never the audio thread).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::protocol::{FromPhone, Malformed};

/// Participants at once, by default.
pub const DEFAULT_MAX_PARTICIPANTS: usize = 64;
/// How long a participant whose phone went away keeps its place (its name, its score, its resume key).
pub const KEEP_AWAY: Duration = Duration::from_secs(600);
/// A participant away this long lets go of its stems (so that the room is not kept from them); it still comes
/// back as itself, with its name and score, until [`KEEP_AWAY`].
pub const HOLD_WHILE_AWAY: Duration = Duration::from_secs(120);
/// Wrong tokens or codes one address may try in [`ATTEMPT_WINDOW`] before it is refused until the window ends.
pub const ATTEMPTS_PER_ADDRESS: usize = 5;
/// Wrong room codes from all addresses together in [`ATTEMPT_WINDOW`] before the code stops working for a
/// while (the link's token still works): a room code is short, so guessing it must be slow.
pub const ATTEMPTS_IN_ALL: usize = 30;
/// The window the attempts above are counted in.
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(60);
/// Events the stage has not taken up yet; past this a phone's move is refused (and the phone told), never
/// queued without bound.
const INBOX_LIMIT: usize = 65_536;

/// How the room is entered and how many fit.
#[derive(Debug, Clone)]
pub struct HallConfig {
    /// The unguessable token the link carries.
    pub token: String,
    /// The short code a person types.
    pub code: String,
    /// Participants at once.
    pub max_participants: usize,
}

impl HallConfig {
    /// A fresh token (128 random bits) and room code (six characters), and the default limits.
    pub fn fresh() -> HallConfig {
        HallConfig {
            token: random_text(22, TOKEN_ALPHABET),
            code: random_text(6, CODE_ALPHABET),
            max_participants: DEFAULT_MAX_PARTICIPANTS,
        }
    }
}

const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// No 0/O, 1/I/L: read off a projector and typed on a phone.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// `len` characters of `alphabet`, from the operating system's random source.
pub fn random_text(len: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    // 256 is a multiple of 64; for the code's 31 letters the bias of a modulo is a few percent, harmless for
    // a code whose guesses are rate-limited.
    bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect()
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A stem as the phones see it: a name, a colour, a place and a size; no file, no path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StemView {
    /// Its name.
    pub name: String,
    /// Its colour on the stage, sRGB.
    pub colour: [u8; 3],
    /// Right of the listener, metres.
    pub x: f32,
    /// Height, metres.
    pub y: f32,
    /// Behind the listener (in front is negative), metres.
    pub z: f32,
    /// Its size.
    pub size: f32,
}

/// The stage as the phones see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageView {
    /// The staging's name.
    pub name: String,
    /// Every stem, in scene order.
    pub stems: Vec<StemView>,
    /// The section the playhead is in.
    pub section: Option<String>,
    /// The playhead, seconds.
    pub at_s: f64,
    /// The song's length, seconds.
    pub length_s: f64,
    /// Whether the song plays.
    pub playing: bool,
    /// The notes pinned to the song.
    pub notes: Vec<NoteView>,
}

/// A pinned note as the phones see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoteView {
    /// The stem's index.
    pub stem: usize,
    /// Song time, seconds.
    pub at_s: f64,
    /// Who left it.
    pub by: String,
    /// What it says.
    pub text: String,
    /// Dealt with.
    pub resolved: bool,
}

/// What a phone asked the stage to do, in the order asked.
#[derive(Debug, Clone, PartialEq)]
pub enum RoomEvent {
    /// Put a held stem here (x, z; the stage keeps its height).
    Move {
        /// The participant.
        who: u32,
        /// The stem's index.
        stem: usize,
        /// Right, metres.
        x: f32,
        /// Back, metres.
        z: f32,
        /// The phone's gesture number.
        gesture: u32,
    },
    /// Give a held stem this size.
    Size {
        /// The participant.
        who: u32,
        /// The stem's index.
        stem: usize,
        /// The size.
        size: f32,
        /// The phone's gesture number.
        gesture: u32,
    },
    /// A gesture is over.
    Release {
        /// The participant.
        who: u32,
        /// The phone's gesture number.
        gesture: u32,
    },
    /// A note pinned to the song.
    Note {
        /// The participant's name.
        by: String,
        /// The stem's index.
        stem: usize,
        /// Song time, seconds.
        at_s: f64,
        /// What it says.
        text: String,
    },
}

/// A participant.
#[derive(Debug, Clone)]
pub struct Participant {
    /// Its number (never reused while the room is open).
    pub id: u32,
    /// What it is called.
    pub name: String,
    /// The key that brings it back after a drop.
    resume: String,
    /// The connection that speaks for it now, if any.
    connection: Option<u64>,
    /// When its last connection went away.
    away_since: Option<Instant>,
    /// Messages it has sent that were acted on.
    pub messages: u64,
}

impl Participant {
    /// Whether a phone is connected for it now.
    pub fn connected(&self) -> bool {
        self.connection.is_some()
    }
}

/// A question the room votes on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vote {
    /// Its number.
    pub id: u32,
    /// The question ("Which one is intimate?").
    pub question: String,
    /// The answers to choose from ("A", "B").
    pub choices: Vec<String>,
    /// Each participant's choice.
    #[serde(skip)]
    pub ballots: BTreeMap<u32, u32>,
    /// Still taking ballots.
    pub open: bool,
}

impl Vote {
    /// Ballots for each choice.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.choices.len()];
        for &c in self.ballots.values() {
            counts[c as usize] += 1;
        }
        counts
    }
}

/// A "where do you hear it?" round.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Its number.
    pub id: u32,
    /// The hidden stem.
    pub stem: usize,
    /// Each participant's answer (x, z).
    pub guesses: BTreeMap<u32, (f32, f32)>,
    /// Where the stem was, once revealed (x, z).
    pub truth: Option<(f32, f32)>,
}

/// How far one answer was: metres on the floor and degrees of direction from the listener.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GuessError {
    /// Distance between the answer and the truth on the floor, metres.
    pub metres: f32,
    /// Angle between their directions from the listener, degrees (0..=180).
    pub degrees: f32,
}

impl GuessError {
    /// The error of `guess` against `truth` (x, z each; the listener at the origin facing -z).
    pub fn of(guess: (f32, f32), truth: (f32, f32)) -> GuessError {
        let metres = ((guess.0 - truth.0).powi(2) + (guess.1 - truth.1).powi(2)).sqrt();
        let azimuth = |(x, z): (f32, f32)| x.atan2(-z).to_degrees();
        let mut degrees = (azimuth(guess) - azimuth(truth)).abs() % 360.0;
        if degrees > 180.0 {
            degrees = 360.0 - degrees;
        }
        GuessError { metres, degrees }
    }
}

/// A participant's rounds so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Score {
    /// Rounds answered.
    pub rounds: u32,
    /// Errors added up, metres.
    pub metres: f32,
    /// Errors added up, degrees.
    pub degrees: f32,
}

/// Why a phone may not join.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Wrong token or code.
    WrongKey,
    /// Too many wrong tries from this address, or (for codes) from everywhere.
    TooManyTries,
    /// The room is full.
    Full,
    /// The room is closed.
    Closed,
}

impl Refusal {
    /// What the phone is told.
    pub fn text(&self) -> &'static str {
        match self {
            Refusal::WrongKey => "wrong room code or link",
            Refusal::TooManyTries => "too many wrong tries: wait a minute",
            Refusal::Full => "the room is full",
            Refusal::Closed => "the room is closed",
        }
    }
}

/// A phone that joined: who it speaks for, on which connection.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The participant.
    pub who: u32,
    /// The connection's number.
    pub connection: u64,
    /// The key that brings it back.
    pub resume: String,
}

/// What the stage reads of the room (for its panel).
#[derive(Debug, Clone, Default)]
pub struct HallView {
    /// Everyone, connected or away.
    pub participants: Vec<Participant>,
    /// Each stem's holder.
    pub holders: Vec<Option<u32>>,
    /// Phones may not move anything.
    pub locked: bool,
    /// Anyone may claim a free stem.
    pub free_claims: bool,
    /// The vote, open or closed.
    pub vote: Option<Vote>,
    /// Votes that were closed, with their counts.
    pub past_votes: Vec<(Vote, Vec<usize>)>,
    /// The listening round.
    pub round: Option<Round>,
    /// Scores over the session.
    pub scores: BTreeMap<u32, Score>,
    /// Wrong room codes just now stopped the code working.
    pub code_resting: bool,
    /// Connections cut off for flooding or malformed messages, with why.
    pub cut_off: Vec<String>,
}

#[derive(Debug, Default)]
struct HallState {
    participants: BTreeMap<u32, Participant>,
    next_id: u32,
    next_connection: u64,
    holders: Vec<Option<u32>>,
    locked: bool,
    free_claims: bool,
    stage: StageView,
    vote: Option<Vote>,
    past_votes: Vec<(Vote, Vec<usize>)>,
    next_vote: u32,
    round: Option<Round>,
    next_round: u32,
    scores: BTreeMap<u32, Score>,
    inbox: VecDeque<RoomEvent>,
    attempts: HashMap<IpAddr, VecDeque<Instant>>,
    code_attempts: VecDeque<Instant>,
    cut_off: Vec<String>,
    closed: bool,
    version: u64,
    /// The room's state as the phones get it, made once per version.
    shared_text: Option<(u64, Arc<str>)>,
}

/// The room's state, shared by the server's connections and the stage.
#[derive(Debug)]
pub struct Hall {
    config: HallConfig,
    state: Mutex<HallState>,
    /// Bumped whenever what the phones see changes; every connection waits on it.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Hall {
    /// An empty room.
    pub fn new(config: HallConfig) -> Arc<Hall> {
        Arc::new(Hall {
            config,
            state: Mutex::new(HallState { next_id: 1, free_claims: true, ..HallState::default() }),
            changed: tokio::sync::watch::channel(0).0,
        })
    }

    /// How it is entered.
    pub fn config(&self) -> &HallConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, HallState> {
        // A panic while holding it leaves plain data behind: keep going with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes every connection to send what changed.
    fn bump(&self, state: &mut HallState) {
        state.version += 1;
        self.changed.send_replace(state.version);
    }

    /// A receiver woken at every change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    // ---- the phones' side (the server's connections) ----

    /// Lets a phone in with the token or the code (or brings a participant back with its resume key).
    pub fn join(&self, from: IpAddr, hello: &FromPhone, now: Instant) -> Result<Joined, Refusal> {
        let FromPhone::Hello { token, code, name, resume } = hello else { return Err(Refusal::WrongKey) };
        let mut state = self.lock();
        if state.closed {
            return Err(Refusal::Closed);
        }
        let window_start = now.checked_sub(ATTEMPT_WINDOW);
        let recent = |q: &mut VecDeque<Instant>| {
            while q.front().is_some_and(|t| window_start.is_some_and(|w| *t < w)) {
                q.pop_front();
            }
            q.len()
        };
        let tries = state.attempts.entry(from).or_default();
        if recent(tries) >= ATTEMPTS_PER_ADDRESS {
            return Err(Refusal::TooManyTries);
        }
        let by_token = token.as_deref().is_some_and(|t| same_secret(t, &self.config.token));
        let by_code = !by_token
            && code.as_deref().is_some_and(|c| {
                let typed: String = c.trim().to_uppercase().chars().filter(|c| !c.is_whitespace()).collect();
                same_secret(&typed, &self.config.code)
            });
        let code_resting = recent(&mut state.code_attempts) >= ATTEMPTS_IN_ALL;
        let admitted = by_token || (by_code && !code_resting);
        if !admitted {
            state.attempts.entry(from).or_default().push_back(now);
            if code.is_some() {
                state.code_attempts.push_back(now);
            }
            if state.attempts.len() > 4096 {
                // Addresses with no recent tries are forgotten; the map stays small under a spray of addresses.
                state.attempts.retain(|_, q| q.back().is_some_and(|t| window_start.is_none_or(|w| *t >= w)));
            }
            return Err(if code_resting && by_code { Refusal::TooManyTries } else { Refusal::WrongKey });
        }
        state.next_connection += 1;
        let connection = state.next_connection;
        tidy(&mut state, now);
        let returning = resume
            .as_deref()
            .and_then(|r| state.participants.values().find(|p| same_secret(&p.resume, r)).map(|p| p.id));
        let who = match returning {
            Some(id) => id,
            None => {
                if state.participants.len() >= self.config.max_participants {
                    // A full room makes way for a newcomer by letting go of whoever has been away longest.
                    let longest_away =
                        state.participants.values().filter_map(|p| Some((p.away_since?, p.id))).min().map(|(_, id)| id);
                    match longest_away {
                        Some(id) => forget(&mut state, id),
                        None => return Err(Refusal::Full),
                    }
                }
                let id = state.next_id;
                state.next_id += 1;
                let resume = random_text(22, TOKEN_ALPHABET);
                state.participants.insert(
                    id,
                    Participant { id, name: String::new(), resume, connection: None, away_since: None, messages: 0 },
                );
                id
            }
        };
        let participant = state.participants.get_mut(&who).expect("just found or made");
        participant.connection = Some(connection);
        participant.away_since = None;
        if !name.trim().is_empty() || participant.name.is_empty() {
            participant.name = tidy_name(name, who);
        }
        let resume = participant.resume.clone();
        self.bump(&mut state);
        Ok(Joined { who, connection, resume })
    }

    /// Why `joined`'s connection must close now (removed, replaced by a newer one, the room closed), if so.
    pub fn must_close(&self, joined: &Joined) -> Option<&'static str> {
        let state = self.lock();
        if state.closed {
            return Some("the room is closed");
        }
        match state.participants.get(&joined.who) {
            None => Some("the presenter removed you from the room"),
            Some(p) if p.connection != Some(joined.connection) => Some("you joined again from another page"),
            Some(_) => None,
        }
    }

    /// Lets go of the stems of participants away longer than [`HOLD_WHILE_AWAY`], and of participants away
    /// longer than [`KEEP_AWAY`] (the stage calls it a few times a second).
    pub fn tidy(&self, now: Instant) {
        let mut state = self.lock();
        if tidy(&mut state, now) {
            self.bump(&mut state);
        }
    }

    /// The connection went away: the participant keeps its stems for [`HOLD_WHILE_AWAY`] and its place for
    /// [`KEEP_AWAY`].
    pub fn leave(&self, joined: &Joined, now: Instant) {
        let mut state = self.lock();
        if let Some(p) = state.participants.get_mut(&joined.who)
            && p.connection == Some(joined.connection)
        {
            p.connection = None;
            p.away_since = Some(now);
            // Its gestures end with it: the stage lets go of what the finger held.
            self.bump(&mut state);
        }
    }

    /// Notes that a connection was cut off, and why (the stage's panel lists it). The participant is let go
    /// with it (its stems freed): a phone that floods or speaks nonsense does not keep a place to come back to.
    pub fn cut_off(&self, joined: Option<&Joined>, why: &str) {
        let mut state = self.lock();
        let name = joined.and_then(|j| state.participants.get(&j.who)).map_or("a phone".into(), |p| p.name.clone());
        if let Some(joined) = joined {
            forget(&mut state, joined.who);
        }
        state.cut_off.push(format!("{name}: {why}"));
        if state.cut_off.len() > 32 {
            state.cut_off.remove(0);
        }
        self.bump(&mut state);
    }

    /// Acts on one message from a joined phone: `Ok(Some(text))` is a notice for the phone (asked for something
    /// it may not do now); `Err` closes the connection (a stem that does not exist, a message out of turn).
    pub fn handle(&self, joined: &Joined, message: FromPhone) -> Result<Option<String>, Malformed> {
        let mut state = self.lock();
        let stems = state.stage.stems.len();
        let known = |stem: u32| {
            if (stem as usize) < stems { Ok(stem as usize) } else { Err(Malformed(format!("there is no stem {stem}"))) }
        };
        let who = joined.who;
        let holds = |state: &HallState, stem: usize| state.holders.get(stem).copied().flatten() == Some(who);
        let notice = |text: String| Ok(Some(text));
        let result = match message {
            FromPhone::Hello { .. } => return Err(Malformed("already joined".into())),
            FromPhone::Name { name } => {
                if let Some(p) = state.participants.get_mut(&who) {
                    p.name = tidy_name(&name, who);
                }
                self.bump(&mut state);
                Ok(None)
            }
            FromPhone::Claim { stem } => {
                let stem = known(stem)?;
                if !state.free_claims {
                    notice("the presenter hands the stems out".into())
                } else if state.locked {
                    notice("the room is locked".into())
                } else if state.holders[stem].is_some_and(|h| h != who) {
                    notice(format!("{} is taken", state.stage.stems[stem].name))
                } else {
                    state.holders[stem] = Some(who);
                    self.bump(&mut state);
                    Ok(None)
                }
            }
            FromPhone::LetGo { stem } => {
                let stem = known(stem)?;
                if holds(&state, stem) {
                    state.holders[stem] = None;
                    self.bump(&mut state);
                }
                Ok(None)
            }
            FromPhone::Move { stem, x, z, g } => {
                let stem = known(stem)?;
                if state.locked {
                    notice("the room is locked".into())
                } else if !holds(&state, stem) {
                    notice(format!("{} is not yours to move", state.stage.stems[stem].name))
                } else {
                    queue(&mut state, RoomEvent::Move { who, stem, x, z, gesture: g })
                }
            }
            FromPhone::Size { stem, size, g } => {
                let stem = known(stem)?;
                if state.locked {
                    notice("the room is locked".into())
                } else if !holds(&state, stem) {
                    notice(format!("{} is not yours", state.stage.stems[stem].name))
                } else {
                    queue(&mut state, RoomEvent::Size { who, stem, size, gesture: g })
                }
            }
            FromPhone::Release { g } => queue(&mut state, RoomEvent::Release { who, gesture: g }),
            FromPhone::Vote { vote, choice } => match &mut state.vote {
                Some(v) if v.id == vote && v.open => {
                    if choice as usize >= v.choices.len() {
                        return Err(Malformed(format!("there is no choice {choice}")));
                    }
                    v.ballots.insert(who, choice);
                    self.bump(&mut state);
                    Ok(None)
                }
                _ => notice("that vote is closed".into()),
            },
            FromPhone::Guess { round, x, z } => match &mut state.round {
                Some(r) if r.id == round && r.truth.is_none() => {
                    r.guesses.insert(who, (x, z));
                    self.bump(&mut state);
                    Ok(None)
                }
                _ => notice("that round is over".into()),
            },
            FromPhone::Note { stem, at_s, text } => {
                let stem = known(stem)?;
                let by = state.participants.get(&who).map_or_else(String::new, |p| p.name.clone());
                queue(&mut state, RoomEvent::Note { by, stem, at_s, text: text.trim().to_owned() })
            }
        };
        if let Some(p) = state.participants.get_mut(&who) {
            p.messages += 1;
        }
        result
    }

    /// The room as the phones see it (the same text for every phone, made once per change).
    pub fn shared_text(&self) -> Arc<str> {
        let mut state = self.lock();
        if let Some((version, text)) = &state.shared_text
            && *version == state.version
        {
            return text.clone();
        }
        let hidden = state.round.as_ref().filter(|r| r.truth.is_none()).map(|r| r.stem);
        let stems: Vec<_> = state
            .stage
            .stems
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let holder = state.holders.get(i).copied().flatten();
                let holder_name = holder.and_then(|h| state.participants.get(&h)).map(|p| p.name.as_str());
                if hidden == Some(i) {
                    // Where the hidden stem is, is what the round asks: the phones are not told.
                    json!({"name": s.name, "colour": s.colour, "hidden": true, "holder": holder, "holder_name": holder_name})
                } else {
                    json!({"name": s.name, "colour": s.colour, "x": s.x, "y": s.y, "z": s.z, "size": s.size,
                           "holder": holder, "holder_name": holder_name})
                }
            })
            .collect();
        let people: Vec<_> =
            state.participants.values().map(|p| json!({"id": p.id, "name": p.name, "here": p.connected()})).collect();
        let vote = state.vote.as_ref().map(|v| {
            let mut value = json!({"id": v.id, "question": v.question, "choices": v.choices, "open": v.open});
            if !v.open {
                value["counts"] = json!(v.counts());
            }
            value
        });
        let round = state.round.as_ref().map(|r| {
            let mut value = json!({"id": r.id, "stem": r.stem, "answers": r.guesses.len()});
            if let Some(truth) = r.truth {
                value["truth"] = json!([truth.0, truth.1]);
                value["guesses"] = json!(r.guesses.values().map(|g| [g.0, g.1]).collect::<Vec<_>>());
            }
            value
        });
        let text: Arc<str> = json!({
            "t": "room",
            "name": state.stage.name,
            "stems": stems,
            "section": state.stage.section,
            "at_s": state.stage.at_s,
            "length_s": state.stage.length_s,
            "playing": state.stage.playing,
            "notes": state.stage.notes,
            "people": people,
            "locked": state.locked,
            "free_claims": state.free_claims,
            "vote": vote,
            "round": round,
        })
        .to_string()
        .into();
        state.shared_text = Some((state.version, text.clone()));
        text
    }

    /// What only this participant sees: its name, its stems, its ballot, its answer and its score.
    pub fn own_text(&self, who: u32) -> String {
        let state = self.lock();
        let name = state.participants.get(&who).map_or("", |p| p.name.as_str());
        let holds: Vec<usize> = (0..state.holders.len()).filter(|&i| state.holders[i] == Some(who)).collect();
        let ballot = state.vote.as_ref().and_then(|v| v.ballots.get(&who).map(|c| (v.id, *c)));
        let guess = state.round.as_ref().and_then(|r| r.guesses.get(&who).map(|g| (r.id, *g)));
        let error = state.round.as_ref().and_then(|r| Some(GuessError::of(*r.guesses.get(&who)?, r.truth?)));
        let score = state.scores.get(&who).copied().unwrap_or_default();
        // How many of its messages the room has taken (a phone can tell that none were lost).
        let heard = state.participants.get(&who).map_or(0, |p| p.messages);
        json!({"t": "you", "id": who, "name": name, "holds": holds, "ballot": ballot, "guess": guess,
               "error": error, "score": score, "heard": heard})
        .to_string()
    }

    // ---- the stage's side ----

    /// Takes what the phones asked for since the last call, in order.
    pub fn drain(&self) -> Vec<RoomEvent> {
        self.lock().inbox.drain(..).collect()
    }

    /// Shows the phones the stage as it is now (nothing is sent if nothing changed).
    pub fn set_stage(&self, stage: StageView) {
        let mut state = self.lock();
        if state.stage == stage {
            return;
        }
        let stems = stage.stems.len();
        if state.holders.len() != stems {
            // Another scene with other stems: hands are emptied.
            state.holders = vec![None; stems];
            state.round = None;
        }
        state.stage = stage;
        self.bump(&mut state);
    }

    /// Hands a stem to a participant, or frees it (`None`).
    pub fn hand(&self, stem: usize, to: Option<u32>) {
        let mut state = self.lock();
        if stem < state.holders.len() && to.is_none_or(|id| state.participants.contains_key(&id)) {
            state.holders[stem] = to;
            self.bump(&mut state);
        }
    }

    /// Locks the room (no phone moves anything) or unlocks it.
    pub fn set_locked(&self, locked: bool) {
        let mut state = self.lock();
        state.locked = locked;
        self.bump(&mut state);
    }

    /// Lets anyone claim a free stem, or only the presenter hand them out.
    pub fn set_free_claims(&self, free: bool) {
        let mut state = self.lock();
        state.free_claims = free;
        self.bump(&mut state);
    }

    /// Removes a participant: its connection closes and its stems are freed.
    pub fn remove(&self, who: u32) {
        let mut state = self.lock();
        forget(&mut state, who);
        self.bump(&mut state);
    }

    /// Asks the room a question with these answers (a vote already open is closed first).
    pub fn ask(&self, question: &str, choices: Vec<String>) -> u32 {
        let mut state = self.lock();
        close_vote(&mut state);
        state.next_vote += 1;
        let id = state.next_vote;
        state.vote = Some(Vote { id, question: question.to_owned(), choices, ballots: BTreeMap::new(), open: true });
        self.bump(&mut state);
        id
    }

    /// Closes the vote: the counts are shown, and kept for the handout.
    pub fn close_vote(&self) {
        let mut state = self.lock();
        close_vote(&mut state);
        self.bump(&mut state);
    }

    /// Starts a "where do you hear it?" round on `stem` (its place is hidden from the phones).
    pub fn start_round(&self, stem: usize) -> u32 {
        let mut state = self.lock();
        state.next_round += 1;
        let id = state.next_round;
        state.round = Some(Round { id, stem, guesses: BTreeMap::new(), truth: None });
        self.bump(&mut state);
        id
    }

    /// Ends the round: the truth is shown, each answer scored (and added to the session's scores).
    pub fn reveal(&self, truth: (f32, f32)) -> Vec<(u32, GuessError)> {
        let mut state = self.lock();
        let Some(round) = state.round.as_mut().filter(|r| r.truth.is_none()) else { return Vec::new() };
        round.truth = Some(truth);
        let errors: Vec<_> = round.guesses.iter().map(|(&who, &g)| (who, GuessError::of(g, truth))).collect();
        for (who, e) in &errors {
            let score = state.scores.entry(*who).or_default();
            score.rounds += 1;
            score.metres += e.metres;
            score.degrees += e.degrees;
        }
        self.bump(&mut state);
        errors
    }

    /// Ends the round without revealing (the body shows again).
    pub fn end_round(&self) {
        let mut state = self.lock();
        state.round = None;
        self.bump(&mut state);
    }

    /// Closes the room: every connection is told and closes.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.bump(&mut state);
    }

    /// What the stage's panel shows.
    pub fn view(&self) -> HallView {
        let state = self.lock();
        let window_start = Instant::now().checked_sub(ATTEMPT_WINDOW);
        HallView {
            participants: state.participants.values().cloned().collect(),
            holders: state.holders.clone(),
            locked: state.locked,
            free_claims: state.free_claims,
            vote: state.vote.clone(),
            past_votes: state.past_votes.clone(),
            round: state.round.clone(),
            scores: state.scores.clone(),
            code_resting: state.code_attempts.iter().filter(|t| window_start.is_none_or(|w| **t >= w)).count()
                >= ATTEMPTS_IN_ALL,
            cut_off: state.cut_off.clone(),
        }
    }

    /// The name of a participant (empty if it left).
    pub fn name_of(&self, who: u32) -> String {
        self.lock().participants.get(&who).map(|p| p.name.clone()).unwrap_or_default()
    }
}

fn queue(state: &mut HallState, event: RoomEvent) -> Result<Option<String>, Malformed> {
    if state.inbox.len() >= INBOX_LIMIT {
        return Ok(Some("the stage is busy; try again".into()));
    }
    state.inbox.push_back(event);
    Ok(None)
}

/// Frees the stems of those away too long and forgets those away far too long; whether anything changed.
fn tidy(state: &mut HallState, now: Instant) -> bool {
    let away_for = |p: &Participant| p.away_since.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
    let expired: Vec<u32> = state.participants.values().filter(|p| away_for(p) > KEEP_AWAY).map(|p| p.id).collect();
    let idle: Vec<u32> = state.participants.values().filter(|p| away_for(p) > HOLD_WHILE_AWAY).map(|p| p.id).collect();
    let mut changed = !expired.is_empty();
    for id in expired {
        forget(state, id);
    }
    for holder in &mut state.holders {
        if holder.is_some_and(|h| idle.contains(&h)) {
            *holder = None;
            changed = true;
        }
    }
    changed
}

fn forget(state: &mut HallState, who: u32) {
    state.participants.remove(&who);
    for holder in &mut state.holders {
        if *holder == Some(who) {
            *holder = None;
        }
    }
}

fn close_vote(state: &mut HallState) {
    if let Some(v) = state.vote.as_mut().filter(|v| v.open) {
        v.open = false;
        let counts = v.counts();
        let closed = v.clone();
        state.past_votes.push((closed, counts));
    }
}

/// A name as shown: trimmed, and "guest N" when empty.
fn tidy_name(name: &str, id: u32) -> String {
    let name = name.trim();
    if name.is_empty() { format!("guest {id}") } else { name.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hall_with(stems: usize) -> Arc<Hall> {
        let hall = Hall::new(HallConfig { token: "T".repeat(22), code: "ABC234".into(), max_participants: 2 });
        let stems = (0..stems)
            .map(|i| StemView { name: format!("s{i}"), colour: [1, 2, 3], x: 0.0, y: 1.0, z: -2.0, size: 1.0 })
            .collect();
        hall.set_stage(StageView { stems, ..StageView::default() });
        hall
    }

    fn hello(token: Option<&str>, code: Option<&str>, resume: Option<&str>) -> FromPhone {
        FromPhone::Hello {
            token: token.map(Into::into),
            code: code.map(Into::into),
            name: "ana".into(),
            resume: resume.map(Into::into),
        }
    }

    #[test]
    fn keys_limits_and_returning_phones() {
        let hall = hall_with(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Instant::now();
        assert_eq!(hall.join(ip, &hello(Some("wrong"), None, None), now).unwrap_err(), Refusal::WrongKey);
        let a = hall.join(ip, &hello(Some(&"T".repeat(22)), None, None), now).unwrap();
        let b = hall.join(ip, &hello(None, Some("abc 234"), None), now).unwrap();
        assert_eq!(hall.join(ip, &hello(None, Some("ABC234"), None), now).unwrap_err(), Refusal::Full);
        // Back after a drop: the same participant, the same stems; the old connection is told to close.
        hall.hand(1, Some(a.who));
        hall.leave(&a, now);
        let again = hall.join(ip, &hello(None, Some("ABC234"), Some(&a.resume)), now).unwrap();
        assert_eq!(again.who, a.who);
        assert_eq!(hall.view().holders, vec![None, Some(a.who)]);
        assert!(hall.must_close(&a).is_some() && hall.must_close(&again).is_none());
        // Someone else's stem, a stem that is not there.
        let moved = FromPhone::Move { stem: 1, x: 1.0, z: -1.0, g: 1 };
        assert!(hall.handle(&b, moved.clone()).unwrap().unwrap().contains("not yours"));
        assert!(hall.handle(&b, FromPhone::Move { stem: 7, x: 0.0, z: 0.0, g: 1 }).is_err());
        assert_eq!(hall.handle(&again, moved).unwrap(), None);
        assert_eq!(hall.drain(), vec![RoomEvent::Move { who: a.who, stem: 1, x: 1.0, z: -1.0, gesture: 1 }]);
        hall.set_locked(true);
        assert!(hall.handle(&again, FromPhone::Move { stem: 1, x: 0.0, z: 0.0, g: 2 }).unwrap().is_some());
        hall.remove(b.who);
        assert!(hall.must_close(&b).is_some());
    }

    #[test]
    fn an_absent_phone_lets_go_of_its_stems_then_of_its_place() {
        let hall = hall_with(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Instant::now();
        let token = "T".repeat(22);
        let a = hall.join(ip, &hello(Some(&token), None, None), now).unwrap();
        hall.hand(0, Some(a.who));
        hall.leave(&a, now);
        hall.tidy(now + HOLD_WHILE_AWAY - Duration::from_secs(1));
        assert_eq!(hall.view().holders[0], Some(a.who), "a phone that slept a minute still holds its stem");
        hall.tidy(now + HOLD_WHILE_AWAY + Duration::from_secs(1));
        assert_eq!(hall.view().holders[0], None, "away for minutes: the room may take it");
        let back = hall.join(ip, &hello(Some(&token), None, Some(&a.resume)), now + KEEP_AWAY / 2).unwrap();
        assert_eq!(back.who, a.who, "still itself");
        hall.leave(&back, now + KEEP_AWAY / 2);
        // A full room makes way for a newcomer by letting go of whoever has been away longest.
        let b = hall.join(ip, &hello(Some(&token), None, None), now).unwrap();
        let c = hall.join(ip, &hello(Some(&token), None, None), now + KEEP_AWAY / 2).unwrap();
        assert!(hall.must_close(&b).is_none() && hall.must_close(&c).is_none());
        assert!(hall.view().participants.iter().all(|p| p.id != a.who), "the absent one made way");
        assert_eq!(hall.join(ip, &hello(Some(&token), None, None), now).unwrap_err(), Refusal::Full);
    }

    #[test]
    fn wrong_tries_are_limited_per_address_and_for_the_code() {
        let hall = hall_with(1);
        let now = Instant::now();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..ATTEMPTS_PER_ADDRESS {
            assert_eq!(hall.join(ip, &hello(None, Some("ZZZZZZ"), None), now).unwrap_err(), Refusal::WrongKey);
        }
        // Even the right code is refused from there until the window passes.
        assert_eq!(hall.join(ip, &hello(None, Some("ABC234"), None), now).unwrap_err(), Refusal::TooManyTries);
        let later = now + ATTEMPT_WINDOW + Duration::from_secs(1);
        assert!(hall.join(ip, &hello(None, Some("ABC234"), None), later).is_ok());
        // Many addresses guessing the code: it rests; the token still works.
        for i in 0..ATTEMPTS_IN_ALL {
            let ip: IpAddr = format!("127.0.1.{i}").parse().unwrap();
            let _ = hall.join(ip, &hello(None, Some("QQQQQQ"), None), later);
        }
        let fresh: IpAddr = "127.0.2.1".parse().unwrap();
        assert_eq!(hall.join(fresh, &hello(None, Some("ABC234"), None), later).unwrap_err(), Refusal::TooManyTries);
        assert!(hall.view().code_resting);
        assert!(hall.join(fresh, &hello(Some(&"T".repeat(22)), None, None), later).is_ok());
    }

    #[test]
    fn guesses_are_scored_in_metres_and_degrees() {
        let e = GuessError::of((0.0, -2.0), (2.0, 0.0));
        assert!((e.metres - 8f32.sqrt()).abs() < 1e-5 && (e.degrees - 90.0).abs() < 1e-3);
        let behind = GuessError::of((-0.1, 3.0), (0.1, 3.0));
        assert!(behind.degrees < 5.0, "across the back is a small angle, not 358°: {behind:?}");
        let hall = hall_with(1);
        let now = Instant::now();
        let a = hall.join("127.0.0.1".parse().unwrap(), &hello(Some(&"T".repeat(22)), None, None), now).unwrap();
        let round = hall.start_round(0);
        assert!(!hall.shared_text().contains("\"z\":-2.0"), "the hidden stem's place is not sent");
        assert!(hall.shared_text().contains("\"hidden\":true"), "{}", hall.shared_text());
        hall.handle(&a, FromPhone::Guess { round, x: 0.0, z: -3.0 }).unwrap();
        let errors = hall.reveal((0.0, -2.0));
        assert_eq!(errors.len(), 1);
        assert!((errors[0].1.metres - 1.0).abs() < 1e-5);
        assert_eq!(hall.view().scores[&a.who].rounds, 1);
    }
}
