//! The room on the stage: opens and closes the phones' server, turns a phone's drag into the same intents as
//! the mouse (clamped, one undo step per gesture, named after the participant, recorded in a take), pins
//! their notes to the song, hides a body for a listening round, and shows the phones the stage.

use std::collections::HashMap;

use bevy::prelude::*;

use super::intent::{Edit, Gesture, GestureAuthors, Intent};
use super::shared::{LiveTimeline, RoomTags, StageOptions, StageSet, TransportState};
use super::stems::{StageScene, WorldRows};
use crate::room::hall::{GuessError, NoteView};
use crate::room::{OpenRoom, RoomEvent, RoomPlace, StageView, StemView};
use crate::scene::{Comment, VoteResult, limits};

/// The room: opened at start with `--room`, or from its window.
pub struct RoomPlugin;

impl Plugin for RoomPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<StageRoom>()
            .init_resource::<RoomTags>()
            .add_message::<RoomCommand>()
            .add_systems(Startup, open_at_start)
            .add_systems(Update, (room_commands, room_inbox).chain().in_set(StageSet::Input))
            .add_systems(PostUpdate, publish_stage);
    }
}

/// The room as the stage holds it.
#[derive(Resource, Default)]
pub struct StageRoom {
    /// The open room, if any.
    pub open: Option<OpenRoom>,
    /// Where it opens next.
    pub place: RoomPlace,
    /// What went wrong opening it, or a caveat (no network: loopback only).
    pub problem: Option<String>,
    /// Each participant's gesture in progress, as the stage's own gesture.
    gestures: HashMap<(u32, u32), Gesture>,
    /// When the playhead was last shown to the phones (the stage's clock, s).
    published_at_s: f64,
    /// The playhead then.
    published_playhead: f64,
    /// The last round revealed: each participant's name and error.
    pub last_reveal: Vec<(String, GuessError)>,
    /// The window is shown.
    pub window: bool,
}

/// What the presenter asks of the room (its window and tests write these).
#[derive(Message, Debug, Clone, PartialEq)]
pub enum RoomCommand {
    /// Open it where [`StageRoom::place`] says.
    Open,
    /// Close it: the server stops, every phone is dropped.
    Close,
    /// Hand a stem to a participant, or free it.
    Hand {
        /// The stem's index.
        stem: usize,
        /// The participant, or none.
        to: Option<u32>,
    },
    /// Lock the room (phones move nothing) or unlock it.
    Lock(bool),
    /// Let anyone claim a free stem, or not.
    FreeClaims(bool),
    /// Remove a participant.
    Remove(u32),
    /// Ask the room to vote.
    Ask {
        /// The question.
        question: String,
        /// The answers.
        choices: Vec<String>,
    },
    /// Close the vote.
    CloseVote,
    /// Hide this stem and ask where it is heard.
    StartRound(usize),
    /// Show where it was and score the answers.
    Reveal,
    /// End the round (the body shows again).
    EndRound,
    /// Mark a pinned note resolved (by its index in the scene's notes).
    Resolve(usize),
}

fn open_at_start(options: Res<StageOptions>, mut room: ResMut<StageRoom>, mut commands: MessageWriter<RoomCommand>) {
    if let Some(request) = &options.room {
        room.place = RoomPlace {
            interface: request.interface.clone(),
            port: request.port,
            max_participants: request.max_participants,
        };
        commands.write(RoomCommand::Open);
    }
}

fn room_commands(
    mut commands: MessageReader<RoomCommand>,
    mut room: ResMut<StageRoom>,
    mut doc: ResMut<StageScene>,
    world: WorldRows,
) {
    for command in commands.read() {
        if let RoomCommand::Open = command {
            if room.open.is_some() {
                continue;
            }
            match OpenRoom::open(&room.place) {
                Ok((open, warning)) => {
                    // The one line a presenter (or a test) reads to know where the room is.
                    info!("the room is open at {} (room code {})", open.link, open.hall().config().code);
                    eprintln!("proxemix: the room is open at {} (room code {})", open.link, open.hall().config().code);
                    if let Some(warning) = &warning {
                        eprintln!("proxemix: {warning}");
                    }
                    room.problem = warning;
                    room.open = Some(open);
                    room.window = true;
                }
                Err(why) => {
                    eprintln!("proxemix: the room did not open: {why}");
                    room.problem = Some(why);
                }
            }
            continue;
        }
        if let RoomCommand::Resolve(i) = command {
            if let Some(note) = doc.scene.comments.get_mut(*i) {
                note.resolved = !note.resolved;
                doc.dirty = true;
            }
            continue;
        }
        let Some(open) = room.open.as_mut() else { continue };
        let hall = open.hall().clone();
        match command {
            RoomCommand::Open | RoomCommand::Resolve(_) => {}
            RoomCommand::Close => {
                open.server.close();
                room.open = None;
                room.gestures.clear();
                eprintln!("proxemix: the room is closed");
            }
            RoomCommand::Hand { stem, to } => hall.hand(*stem, *to),
            RoomCommand::Lock(locked) => hall.set_locked(*locked),
            RoomCommand::FreeClaims(free) => hall.set_free_claims(*free),
            RoomCommand::Remove(who) => hall.remove(*who),
            RoomCommand::Ask { question, choices } => {
                // Typed on the stage: kept within what the scene keeps (it is saved with the result).
                let fit =
                    |text: &str, max: usize| text.chars().filter(|c| !c.is_control()).take(max).collect::<String>();
                let choices = choices.iter().take(16).map(|c| fit(c, limits::NAME_CHARS)).collect();
                hall.ask(&fit(question, limits::COMMENT_CHARS), choices);
            }
            RoomCommand::CloseVote => {
                hall.close_vote();
                if let Some((vote, counts)) = hall.view().past_votes.last() {
                    let result: Vec<String> =
                        vote.choices.iter().zip(counts).map(|(c, n)| format!("{c}: {n}")).collect();
                    doc.status = format!("vote \"{}\": {}", vote.question, result.join(", "));
                    info!("{}", doc.status);
                    // Kept with the scene (the handout says what the room voted).
                    let answers = vote.choices.iter().zip(counts).map(|(c, n)| (c.clone(), *n as u32)).collect();
                    if doc.scene.votes.len() < limits::MAX_COMMENTS {
                        doc.scene.use_current_format();
                        doc.scene.votes.push(VoteResult { question: vote.question.clone(), answers });
                        doc.dirty = true;
                    }
                }
            }
            RoomCommand::StartRound(stem) => {
                hall.start_round(*stem);
                room.last_reveal.clear();
            }
            RoomCommand::Reveal => {
                let Some(round) = hall.view().round else { continue };
                let Some(row) = world.iter().find(|r| r.body.index == round.stem) else { continue };
                let at = row.transform.translation;
                let errors = hall.reveal((at.x, at.z));
                room.last_reveal = errors.into_iter().map(|(who, e)| (hall.name_of(who), e)).collect();
            }
            RoomCommand::EndRound => hall.end_round(),
        }
    }
}

/// A phone's moves become the stage's intents, its notes the scene's comments.
#[allow(clippy::too_many_arguments)]
fn room_inbox(
    mut room: ResMut<StageRoom>,
    mut intents: MessageWriter<Intent>,
    mut authors: ResMut<GestureAuthors>,
    mut doc: ResMut<StageScene>,
    mut tags: ResMut<RoomTags>,
    world: WorldRows,
    time: Res<Time>,
    mut checked_at: Local<f64>,
) {
    let Some(open) = room.open.as_ref() else {
        if *tags != RoomTags::default() {
            *tags = RoomTags::default();
        }
        return;
    };
    let hall = open.hall().clone();
    let events = hall.drain();
    let entity_of =
        |stem: usize| world.iter().find(|r| r.body.index == stem).map(|r| (r.entity, r.transform.translation));
    for event in events {
        match event.clone() {
            RoomEvent::Move { who, stem, gesture, .. } | RoomEvent::Size { who, stem, gesture, .. } => {
                let Some((entity, at)) = entity_of(stem) else { continue };
                let ours = *room.gestures.entry((who, gesture)).or_insert_with(|| {
                    let g = Gesture::new();
                    authors.insert(g, hall.name_of(who));
                    g
                });
                let edit = match &event {
                    RoomEvent::Move { x, z, .. } => Edit::Place(vec![(entity, Vec3::new(*x, at.y, *z))]),
                    RoomEvent::Size { size, .. } => Edit::SetSize(vec![(entity, *size)]),
                    _ => continue,
                };
                intents.write(Intent::Edit(ours, edit));
            }
            RoomEvent::Release { who, gesture } => {
                if let Some(ours) = room.gestures.remove(&(who, gesture)) {
                    intents.write(Intent::Release(ours));
                }
            }
            RoomEvent::Note { by, stem, at_s, text } => {
                let Some(name) = doc.scene.stems.get(stem).map(|s| s.name.clone()) else { continue };
                if doc.scene.comments.len() >= limits::MAX_COMMENTS {
                    doc.status = "too many notes in this scene: resolve and remove some".into();
                    continue;
                }
                doc.status = format!("{by} pinned a note on {name}");
                doc.scene.use_current_format();
                doc.scene.comments.push(Comment { stem: name, at_s, by, text, resolved: false });
                doc.dirty = true;
            }
        }
    }
    // Four times a second: the name tags, the hidden body, and gestures of phones that went away (let go, as
    // a lifted finger would be: a touch take glides back instead of holding forever).
    let now = time.elapsed_secs_f64();
    if now - *checked_at >= 0.25 || now < *checked_at {
        *checked_at = now;
        hall.tidy(std::time::Instant::now());
        let view = hall.view();
        let here = |who: u32| view.participants.iter().any(|p| p.id == who && p.connected());
        let gone: Vec<(u32, u32)> = room.gestures.keys().copied().filter(|(who, _)| !here(*who)).collect();
        for key in gone {
            if let Some(ours) = room.gestures.remove(&key) {
                intents.write(Intent::Release(ours));
            }
        }
        let name = |who: u32| view.participants.iter().find(|p| p.id == who).map(|p| p.name.clone());
        let wanted = RoomTags {
            holders: view.holders.iter().map(|h| h.and_then(name)).collect(),
            hidden: view.round.as_ref().filter(|r| r.truth.is_none()).map(|r| r.stem),
        };
        if *tags != wanted {
            *tags = wanted;
        }
    }
}

/// Phones see the stage's bodies (30 times a second at most) and its playhead (4 times a second; they run it
/// on between).
fn publish_stage(
    mut room: ResMut<StageRoom>,
    doc: Res<StageScene>,
    world: WorldRows,
    transport: Res<TransportState>,
    live: Res<LiveTimeline>,
    time: Res<Time>,
    mut last: Local<Option<f64>>,
) {
    let Some(open) = room.open.as_ref() else { return };
    let hall = open.hall().clone();
    let now = time.elapsed_secs_f64();
    // The first frame after the room opens publishes at once: until then the phones see no stems.
    if last.is_some_and(|last| now - last < 1.0 / 30.0 && now >= last) {
        return;
    }
    *last = Some(now);
    let mut rows: Vec<_> = world.iter().collect();
    rows.sort_by_key(|r| r.body.index);
    let stems = rows
        .iter()
        .map(|r| {
            let colours = crate::handout::STEM_COLOURS;
            let [red, green, blue] = colours[r.body.index % colours.len()];
            let p = r.transform.translation;
            StemView { name: r.body.name.clone(), colour: [red, green, blue], x: p.x, y: p.y, z: p.z, size: r.size.0 }
        })
        .collect();
    let index_of = |name: &str| doc.scene.stems.iter().position(|s| s.name == name);
    let notes = doc
        .scene
        .comments
        .iter()
        .filter_map(|c| {
            Some(NoteView {
                stem: index_of(&c.stem)?,
                at_s: c.at_s,
                by: c.by.clone(),
                text: c.text.clone(),
                resolved: c.resolved,
            })
        })
        .collect();
    let moved_on = (transport.position_s - room.published_playhead).abs() > 1e-6;
    if moved_on && (now - room.published_at_s >= 0.25 || !transport.playing || now < room.published_at_s) {
        room.published_at_s = now;
        room.published_playhead = transport.position_s;
    }
    hall.set_stage(StageView {
        name: doc.scene.name.clone(),
        stems,
        section: live.section.clone(),
        at_s: room.published_playhead,
        length_s: transport.song_s,
        playing: transport.playing,
        notes,
    });
}
