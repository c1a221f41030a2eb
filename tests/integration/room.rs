//! The room, as phones meet it: a windowless stage opens its room on loopback and plain WebSocket clients join
//! it as the phone page does (the same JSON). What they move reaches the stage through the mouse's intents
//! (clamped, one undo step per gesture, named after them); what they may not do is refused; a flood is cut off
//! while the others still move; votes, listening rounds and pinned notes are counted, scored and saved.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bevy::prelude::*;
use proxemix::app::headless_app;
use proxemix::app::intent::Intent;
use proxemix::app::room::{RoomCommand, StageRoom};
use proxemix::app::shared::{RoomRequest, StageOptions};
use proxemix::app::stems::{History, StageScene, StemBody};
use proxemix::mix::offline::OfflineBackend;
use proxemix::scene::Scene;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::common::{SR, TempDir, low_chord, scene_text, stem, write_mono_wav};

pub(crate) type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// A stage with three stems (its room open on loopback, at most `max` participants) and its room's address,
/// token and code.
fn stage_with_room(dir: &TempDir, max: usize) -> (App, SocketAddr, String, String) {
    let chord = low_chord(SR as usize, 0.2);
    for name in ["bass", "voice", "drums"] {
        write_mono_wav(&dir.path(&format!("{name}.wav")), &chord);
    }
    let stems = [
        stem("bass", "bass.wav", (-1.0, 1.2, -2.0), 1.0, 0.0),
        stem("voice", "voice.wav", (0.0, 1.2, -1.0), 1.0, 0.0),
        stem("drums", "drums.wav", (1.5, 1.2, -3.0), 1.0, 0.0),
    ];
    let path = dir.path("room scene.ron");
    std::fs::write(&path, scene_text(&stems, -60.0)).unwrap();
    let scene = Scene::load(&path).unwrap();
    let mut app = headless_app(&path, scene, Vec::new(), proxemix::app::audio::StageAudio::<OfflineBackend>::silent());
    let room = RoomRequest { interface: "127.0.0.1".into(), port: 0, max_participants: max };
    app.insert_resource(StageOptions { silent: true, room: Some(room), ..default() });
    app.update();
    app.update();
    let (address, config) = {
        let room = app.world().resource::<StageRoom>();
        let open = room.open.as_ref().expect("the room opened on loopback");
        let config = open.hall().config().clone();
        assert!(open.link.starts_with("http://127.0.0.1:") && open.link.ends_with(&format!("#t={}", config.token)));
        (open.server.address, config)
    };
    assert!(config.token.len() >= 22 && config.code.len() == 6, "an unguessable token and a short code");
    (app, address, config.token, config.code)
}

/// Joins as a phone with this hello; returns the socket and the first answer (welcome or bye).
pub(crate) fn join(address: SocketAddr, hello: Value) -> (Socket, Value) {
    let (mut socket, _) = tungstenite::connect(format!("ws://{address}/ws")).expect("the room answers");
    if let MaybeTlsStream::Plain(tcp) = socket.get_mut() {
        tcp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    socket.send(Message::text(hello.to_string())).unwrap();
    let first = next_kind(&mut socket, &["welcome", "bye"], Duration::from_secs(5)).expect("an answer to hello");
    (socket, first)
}

pub(crate) fn phone(address: SocketAddr, token: &str, name: &str) -> Socket {
    let (socket, welcome) = join(address, json!({"t": "hello", "token": token, "name": name}));
    assert_eq!(welcome["t"], "welcome", "{welcome}");
    socket
}

/// Reads messages until one of these kinds arrives (or the time runs out, or the socket closes).
pub(crate) fn next_kind(socket: &mut Socket, kinds: &[&str], within: Duration) -> Option<Value> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if kinds.iter().any(|k| value["t"] == *k) {
                    return Some(value);
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
    None
}

/// The latest message of a kind that satisfies `ok`, while the stage keeps running.
pub(crate) fn wait_for(app: &mut App, socket: &mut Socket, kind: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        app.update();
        if let Some(v) = next_kind(socket, &[kind], Duration::from_millis(20))
            && ok(&v)
        {
            return v;
        }
    }
    panic!("no {kind} message as expected arrived");
}

pub(crate) fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).unwrap();
}

fn run(app: &mut App, frames: usize) {
    for _ in 0..frames {
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn position(app: &mut App, name: &str) -> Vec3 {
    let mut q = app.world_mut().query::<(&StemBody, &Transform)>();
    q.iter(app.world()).find(|(b, _)| b.name == name).map(|(_, t)| t.translation).unwrap()
}

#[test]
fn phones_join_with_the_link_or_the_code_and_move_only_what_they_hold() {
    let dir = TempDir::new("room-hands");
    let (mut app, address, token, code) = stage_with_room(&dir, 3);
    let mut ana = phone(address, &token, "Ana");
    let (mut ben, welcome) = join(address, json!({"t": "hello", "code": code.to_lowercase(), "name": "Ben"}));
    assert_eq!(welcome["t"], "welcome", "the typed code, in any case, lets Ben in");
    for wrong in [
        json!({"t": "hello", "token": "x".repeat(22), "name": "Eve"}),
        json!({"t": "hello", "code": "AAAAAA", "name": "Eve"}),
    ] {
        let (_, refused) = join(address, wrong);
        assert_eq!(refused["t"], "bye");
        assert_eq!(refused["reason"], "wrong room code or link");
    }

    // Ana takes the bass; Ben cannot take it from her, takes the voice instead.
    send(&mut ana, json!({"t": "claim", "stem": 0}));
    wait_for(&mut app, &mut ana, "you", |v| v["holds"] == json!([0]));
    send(&mut ben, json!({"t": "claim", "stem": 0}));
    let taken = next_kind(&mut ben, &["notice"], Duration::from_secs(2)).unwrap();
    assert_eq!(taken["text"], "bass is taken");
    send(&mut ben, json!({"t": "claim", "stem": 1}));
    wait_for(&mut app, &mut ben, "you", |v| v["holds"] == json!([1]));
    let room = wait_for(&mut app, &mut ana, "room", |v| v["stems"][1]["holder_name"] == "Ben");
    assert_eq!(room["stems"][0]["holder_name"], "Ana");

    // Ana's drag: three moves and a release, one gesture. The height stays; a place past the scene's bounds
    // is clamped, as the mouse's is.
    let before = position(&mut app, "bass");
    let steps_before = app.world().resource::<History>().recent(usize::MAX).count();
    for (x, z) in [(-0.5, -2.2), (0.4, -2.6), (0.8, -3.1)] {
        send(&mut ana, json!({"t": "move", "stem": 0, "x": x, "z": z, "g": 1}));
    }
    send(&mut ana, json!({"t": "release", "g": 1}));
    run(&mut app, 10);
    let after = position(&mut app, "bass");
    assert!((after - Vec3::new(0.8, before.y, -3.1)).length() < 1e-4, "{after}");
    let history = app.world().resource::<History>();
    let steps: Vec<String> = history.recent(usize::MAX).map(str::to_owned).collect();
    assert_eq!(steps.len(), steps_before + 1, "one undo step for the whole drag: {steps:?}");
    assert_eq!(steps[0], "Ana: move", "named after who made it");
    // Undo takes Ana's drag back.
    app.world_mut().write_message(Intent::Undo);
    run(&mut app, 2);
    assert!((position(&mut app, "bass") - before).length() < 1e-4);
    assert!(app.world().resource::<StageScene>().status.contains("Ana: move"));

    // Ben may not move Ana's bass; his sizes are clamped by the protocol's range check.
    send(&mut ben, json!({"t": "move", "stem": 0, "x": 3.0, "z": 3.0, "g": 1}));
    let refused = next_kind(&mut ben, &["notice"], Duration::from_secs(2)).unwrap();
    assert_eq!(refused["text"], "bass is not yours to move");
    run(&mut app, 3);
    assert!((position(&mut app, "bass") - before).length() < 1e-4, "the bass did not move for Ben");

    // The presenter locks the room: nothing moves; takes a stem back; removes Ben.
    app.world_mut().write_message(RoomCommand::Lock(true));
    run(&mut app, 2);
    send(&mut ana, json!({"t": "move", "stem": 0, "x": 2.0, "z": -1.0, "g": 2}));
    assert_eq!(next_kind(&mut ana, &["notice"], Duration::from_secs(2)).unwrap()["text"], "the room is locked");
    app.world_mut().write_message(RoomCommand::Lock(false));
    app.world_mut().write_message(RoomCommand::Hand { stem: 0, to: None });
    wait_for(&mut app, &mut ana, "you", |v| v["holds"] == json!([]));
    app.world_mut().write_message(RoomCommand::Remove(2));
    run(&mut app, 2);
    let bye = next_kind(&mut ben, &["bye"], Duration::from_secs(2)).expect("Ben is told");
    assert_eq!(bye["reason"], "the presenter removed you from the room");

    // A malformed message closes that phone's connection, never the stage: a stem that is not there, a
    // number that is not finite, a message over the size limit.
    for (bad, why) in [
        (json!({"t": "claim", "stem": 99}).to_string(), "there is no stem 99"),
        (r#"{"t":"move","stem":0,"x":1e999,"z":0,"g":1}"#.to_owned(), "not a message this room reads"),
        (json!({"t": "name", "name": "x".repeat(2000)}).to_string(), ""),
    ] {
        let mut eve = phone(address, &token, "Eve");
        eve.send(Message::text(bad)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut closed = None;
        while Instant::now() < deadline && closed.is_none() {
            app.update();
            match eve.read() {
                Ok(Message::Text(t)) if t.contains("\"bye\"") => closed = Some(t.to_string()),
                Ok(Message::Close(_)) => closed = Some(String::new()),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => closed = Some(String::new()),
            }
        }
        let closed = closed.expect("the connection was closed");
        assert!(closed.contains(why), "{closed} (expected {why})");
    }
    // The stage and the other phones go on.
    send(&mut ana, json!({"t": "claim", "stem": 2}));
    send(&mut ana, json!({"t": "move", "stem": 2, "x": 1.0, "z": -1.0, "g": 3}));
    run(&mut app, 5);
    assert!((position(&mut app, "drums") - Vec3::new(1.0, 1.2, -1.0)).length() < 1e-4);
}

#[test]
fn the_room_is_full_at_its_limit_reveals_nothing_of_the_machine_and_drops_everyone_when_closed() {
    let dir = TempDir::new("room-limits");
    let (mut app, address, token, _) = stage_with_room(&dir, 2);
    let mut a = phone(address, &token, "A");
    let _b = phone(address, &token, "B");
    let (_, full) = join(address, json!({"t": "hello", "token": token, "name": "C"}));
    assert_eq!(full["reason"], "the room is full");

    // What a phone is told: names, colours, places. No file name, no path, nothing of the scene's text.
    let room = wait_for(&mut app, &mut a, "room", |v| v["stems"].as_array().is_some_and(|s| s.len() == 3));
    let text = room.to_string();
    for secret in ["bass.wav", "room scene", dir.0.to_str().unwrap(), "/"] {
        assert!(!text.contains(secret), "the room's state shows {secret:?}: {text}");
    }
    // The page: served with a policy that runs only its own script, sends no referrer, is not cached.
    let mut http = TcpStream::connect(address).unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let lower = page.to_lowercase();
    assert!(lower.contains("content-security-policy: default-src 'none'; script-src 'self'"));
    assert!(lower.contains("referrer-policy: no-referrer") && lower.contains("cache-control: no-store"));
    for path in ["/../Cargo.toml", "/scenes/demo.ron", "/room%20scene.ron"] {
        let mut http = TcpStream::connect(address).unwrap();
        http.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut answer = String::new();
        http.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
    // A socket that never says hello is dropped.
    let (mut mute, _) = tungstenite::connect(format!("ws://{address}/ws")).unwrap();
    let started = Instant::now();
    let said = loop {
        match mute.read() {
            Ok(Message::Text(t)) => break t.to_string(),
            Ok(_) => {}
            Err(_) => break String::new(),
        }
    };
    assert!(said.contains("say hello first") && started.elapsed() < Duration::from_secs(7), "{said}");

    app.world_mut().write_message(RoomCommand::Close);
    run(&mut app, 2);
    let bye = next_kind(&mut a, &["bye"], Duration::from_secs(3)).expect("told the room closed");
    assert_eq!(bye["reason"], "the room is closed");
    assert!(TcpStream::connect(address).is_err(), "nothing listens once the room is closed");
}

#[test]
fn a_flood_is_cut_off_within_a_second_while_the_others_still_move() {
    let dir = TempDir::new("room-flood");
    let (mut app, address, token, _) = stage_with_room(&dir, 8);
    let mut ana = phone(address, &token, "Ana");
    let mut flood = phone(address, &token, "Flood");
    send(&mut ana, json!({"t": "claim", "stem": 0}));
    send(&mut flood, json!({"t": "claim", "stem": 1}));
    run(&mut app, 3);
    // 10,000 messages as fast as they go (bounded: the loop stops when the server hangs up, or at the count).
    let started = Instant::now();
    let mut sent = 0;
    for i in 0..10_000u32 {
        let m = json!({"t": "move", "stem": 1, "x": (i % 100) as f32 * 0.01, "z": -1.0, "g": 1});
        if flood.send(Message::text(m.to_string())).is_err() {
            break;
        }
        sent += 1;
    }
    let mut cut = None;
    let deadline = Instant::now() + Duration::from_secs(3);
    while cut.is_none() && Instant::now() < deadline {
        app.update();
        match flood.read() {
            Ok(Message::Text(t)) if t.contains("too many messages") => cut = Some(started.elapsed()),
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                cut = Some(started.elapsed())
            }
            Err(tungstenite::Error::Io(e)) if e.kind() != std::io::ErrorKind::WouldBlock => {
                cut = Some(started.elapsed())
            }
            _ => {}
        }
    }
    let cut = cut.expect("the flooding phone was cut off");
    eprintln!("flood: {sent} messages sent, cut off after {:.0} ms", cut.as_secs_f64() * 1e3);
    assert!(cut < Duration::from_secs(1), "cut off within a second ({cut:?})");
    // Ana's moves still land.
    send(&mut ana, json!({"t": "move", "stem": 0, "x": 2.0, "z": -2.5, "g": 1}));
    run(&mut app, 5);
    assert!((position(&mut app, "bass") - Vec3::new(2.0, 1.2, -2.5)).length() < 1e-4);
    let cut_off = app.world().resource::<StageRoom>().open.as_ref().unwrap().hall().view().cut_off;
    assert!(cut_off.iter().any(|c| c.contains("Flood: flooded the room")), "{cut_off:?}");
}

#[test]
fn votes_listening_rounds_and_notes_are_counted_scored_and_saved() {
    let dir = TempDir::new("room-together");
    let (mut app, address, token, _) = stage_with_room(&dir, 8);
    let mut phones: Vec<Socket> = ["Ana", "Ben", "Cy"].iter().map(|n| phone(address, &token, n)).collect();

    // A vote of three phones.
    let question = "Which one is intimate?".to_owned();
    app.world_mut().write_message(RoomCommand::Ask { question, choices: vec!["A".into(), "B".into()] });
    let vote = wait_for(&mut app, &mut phones[0], "room", |v| v["vote"]["open"] == true);
    let id = vote["vote"]["id"].clone();
    for (p, choice) in phones.iter_mut().zip([0, 1, 0]) {
        send(p, json!({"t": "vote", "vote": id, "choice": choice}));
    }
    run(&mut app, 5);
    app.world_mut().write_message(RoomCommand::CloseVote);
    let closed = wait_for(&mut app, &mut phones[1], "room", |v| v["vote"]["open"] == false);
    assert_eq!(closed["vote"]["counts"], json!([2, 1]));
    let scene = &app.world().resource::<StageScene>().scene;
    assert_eq!(scene.votes[0].answers, vec![("A".to_owned(), 2), ("B".to_owned(), 1)]);

    // "Where do you hear it?": the voice hides; the phones are not told where it is; each answers; the reveal
    // scores them in metres and degrees.
    app.world_mut().write_message(RoomCommand::StartRound(1));
    let round = wait_for(&mut app, &mut phones[2], "room", |v| v["round"].is_object());
    assert_eq!(round["stems"][1]["hidden"], true);
    assert!(round["stems"][1].get("x").is_none() && round["stems"][1].get("z").is_none());
    let round_id = round["round"]["id"].clone();
    // The voice is at (0, -1): straight ahead, a metre away.
    for (p, (x, z)) in phones.iter_mut().zip([(0.0, -1.0), (1.0, -1.0), (0.0, 1.0)]) {
        send(p, json!({"t": "guess", "round": round_id, "x": x, "z": z}));
    }
    run(&mut app, 5);
    app.world_mut().write_message(RoomCommand::Reveal);
    let mine = wait_for(&mut app, &mut phones[1], "you", |v| v["error"].is_object());
    assert!((mine["error"]["metres"].as_f64().unwrap() - 1.0).abs() < 1e-4);
    assert!((mine["error"]["degrees"].as_f64().unwrap() - 45.0).abs() < 1e-3);
    let revealed = &app.world().resource::<StageRoom>().last_reveal;
    let behind = revealed.iter().find(|(n, _)| n == "Cy").unwrap().1;
    assert!((behind.metres - 2.0).abs() < 1e-4 && (behind.degrees - 180.0).abs() < 1e-3, "{behind:?}");
    let scores = app.world().resource::<StageRoom>().open.as_ref().unwrap().hall().view().scores;
    assert_eq!(scores.values().map(|s| s.rounds).sum::<u32>(), 3);

    // Notes pinned to the song: saved with the scene, read back after a reload (as text: markup stays text).
    send(&mut phones[0], json!({"t": "note", "stem": 2, "at_s": 12.5, "text": "too far in the <b>chorus</b>"}));
    run(&mut app, 5);
    app.world_mut().write_message(Intent::Save);
    run(&mut app, 2);
    let path = app.world().resource::<StageScene>().path.clone();
    let saved = Scene::load(&path).unwrap();
    assert_eq!(saved.comments.len(), 1);
    let note = &saved.comments[0];
    assert_eq!((note.stem.as_str(), note.at_s, note.by.as_str()), ("drums", 12.5, "Ana"));
    assert_eq!(note.text, "too far in the <b>chorus</b>");
    assert_eq!(saved.votes.len(), 1);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("comments: [") && text.contains("votes: ["), "readable RON beside the staging:\n{text}");
    let page = proxemix::handout::markdown(&saved, &fake_facts());
    assert!(page.contains("Vote: *Which one is intimate?* — A: 2, B: 1"), "{page}");
    assert!(page.contains("too far in the \\<b\\>chorus\\</b\\>"), "the handout escapes what people typed:\n{page}");
    // A phone that joins later sees the note.
    let mut late = phone(address, &token, "Dee");
    let room = wait_for(&mut app, &mut late, "room", |v| v["notes"].as_array().is_some_and(|n| n.len() == 1));
    assert_eq!(room["notes"][0]["by"], "Ana");
}

/// A room opened on loopback on a stage that is already running.
pub(crate) fn open_room(app: &mut App) -> (SocketAddr, String) {
    app.world_mut().resource_mut::<StageRoom>().place =
        proxemix::room::RoomPlace { interface: "127.0.0.1".into(), port: 0, max_participants: 8 };
    app.world_mut().write_message(RoomCommand::Open);
    app.update();
    let room = app.world().resource::<StageRoom>();
    let open = room.open.as_ref().expect("the room opened on loopback");
    (open.server.address, open.hall().config().token.clone())
}

fn fake_facts() -> proxemix::handout::RenderFacts<'static> {
    proxemix::handout::RenderFacts {
        wav_name: "x.wav",
        picture_name: "x.png",
        seconds: 1.0,
        loudness: String::new(),
        cues_off: Vec::new(),
    }
}

#[test]
fn a_phone_that_drops_comes_back_as_itself_with_its_stems() {
    let dir = TempDir::new("room-return");
    let (mut app, address, token, _) = stage_with_room(&dir, 4);
    let (mut ana, welcome) = join(address, json!({"t": "hello", "token": token, "name": "Ana"}));
    let (who, resume) = (welcome["you"].clone(), welcome["resume"].as_str().unwrap().to_owned());
    send(&mut ana, json!({"t": "claim", "stem": 0}));
    wait_for(&mut app, &mut ana, "you", |v| v["holds"] == json!([0]));
    // The network goes: the socket dies without a goodbye.
    if let MaybeTlsStream::Plain(tcp) = ana.get_mut() {
        tcp.shutdown(std::net::Shutdown::Both).unwrap();
    }
    drop(ana);
    run(&mut app, 5);
    // It comes back: the same participant, the same stem, at once.
    let back = Instant::now();
    let (mut again, welcome) = join(address, json!({"t": "hello", "token": token, "name": "", "resume": resume}));
    assert_eq!(welcome["you"], who);
    let you = wait_for(&mut app, &mut again, "you", |v| v["holds"] == json!([0]));
    let took = back.elapsed();
    eprintln!("a phone that dropped holds its stems again {:.0} ms after it reconnects", took.as_secs_f64() * 1e3);
    assert!(took < Duration::from_secs(2));
    assert_eq!(you["name"], "Ana", "an empty name keeps the one it had");
}
