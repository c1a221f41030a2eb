//! What a phone and the stage say to each other over the room's WebSocket: JSON messages, each bounded in
//! size, parsed strictly (unknown fields and kinds refused) and checked (finite, in range) before anything
//! acts on it.

use serde::{Deserialize, Serialize};

use crate::scene::limits;

/// The largest message a phone may send, bytes (a move is about 60).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// What a phone says. The first message must be [`FromPhone::Hello`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum FromPhone {
    /// Join with the link's token or the typed room code; `resume` is the key a previous welcome gave (the
    /// phone slept, the Wi-Fi dropped): it comes back as the same participant with the same stems.
    Hello {
        /// The token from the link.
        #[serde(default)]
        token: Option<String>,
        /// The room code, typed.
        #[serde(default)]
        code: Option<String>,
        /// What to call this participant.
        name: String,
        /// A previous welcome's resume key.
        #[serde(default)]
        resume: Option<String>,
    },
    /// A new name.
    Name {
        /// The name.
        name: String,
    },
    /// Take a free stem (when the presenter lets anyone claim).
    Claim {
        /// The stem's index.
        stem: u32,
    },
    /// Give a held stem back.
    LetGo {
        /// The stem's index.
        stem: u32,
    },
    /// Put a held stem here (metres, top-down: x to the right, z forward is negative); `g` numbers the
    /// phone's gesture (one undo step each).
    Move {
        /// The stem's index.
        stem: u32,
        /// Right of the listener, metres.
        x: f32,
        /// Behind the listener, metres (in front is negative).
        z: f32,
        /// The phone's gesture number.
        g: u32,
    },
    /// Give a held stem this size.
    Size {
        /// The stem's index.
        stem: u32,
        /// The size (the scene's limits).
        size: f32,
        /// The phone's gesture number.
        g: u32,
    },
    /// A gesture is over (the finger lifted).
    Release {
        /// The phone's gesture number.
        g: u32,
    },
    /// A ballot in the open vote.
    Vote {
        /// The vote's number.
        vote: u32,
        /// The choice's index.
        choice: u32,
    },
    /// Where this participant hears the hidden stem.
    Guess {
        /// The round's number.
        round: u32,
        /// Right of the listener, metres.
        x: f32,
        /// Behind the listener, metres.
        z: f32,
    },
    /// A note pinned to a stem at a song time.
    Note {
        /// The stem's index.
        stem: u32,
        /// Song time, seconds.
        at_s: f64,
        /// What it says.
        text: String,
    },
}

/// Why a message was refused outright (the connection is closed with this reason).
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed(pub String);

impl FromPhone {
    /// Parses and checks one message: JSON of a known kind, within [`MAX_MESSAGE_BYTES`], every number
    /// finite and in range. Whether the stem exists and is held is the hall's to say.
    pub fn parse(text: &str) -> Result<FromPhone, Malformed> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(Malformed(format!("a message of {} bytes; at most {MAX_MESSAGE_BYTES}", text.len())));
        }
        let message: FromPhone =
            serde_json::from_str(text).map_err(|e| Malformed(format!("not a message this room reads: {e}")))?;
        message.check()?;
        Ok(message)
    }

    fn check(&self) -> Result<(), Malformed> {
        let coord = |v: f32| {
            let (lo, hi) = limits::COORD_M;
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(Malformed(format!("{v} is not a position in metres within {lo} ..= {hi}")))
            }
        };
        match self {
            FromPhone::Hello { token, code, name, resume } => {
                for (what, text) in [("token", token), ("code", code), ("resume", resume)] {
                    if text.as_ref().is_some_and(|t| t.len() > 64) {
                        return Err(Malformed(format!("the {what} is too long")));
                    }
                }
                check_text("name", name, limits::NAME_CHARS)
            }
            FromPhone::Name { name } => check_text("name", name, limits::NAME_CHARS),
            FromPhone::Move { x, z, .. } | FromPhone::Guess { x, z, .. } => coord(*x).and(coord(*z)),
            FromPhone::Size { size, .. } => {
                let (lo, hi) = limits::SIZE;
                if size.is_finite() && (lo..=hi).contains(size) {
                    Ok(())
                } else {
                    Err(Malformed(format!("{size} is not a size within {lo} ..= {hi}")))
                }
            }
            FromPhone::Note { at_s, text, .. } => {
                let (lo, hi) = limits::TIME_S;
                if !(at_s.is_finite() && (lo..=hi).contains(at_s)) {
                    return Err(Malformed(format!("{at_s} is not a song time")));
                }
                if text.trim().is_empty() {
                    return Err(Malformed("an empty note".into()));
                }
                check_text("note", text, limits::COMMENT_CHARS)
            }
            FromPhone::Claim { .. } | FromPhone::LetGo { .. } | FromPhone::Release { .. } | FromPhone::Vote { .. } => {
                Ok(())
            }
        }
    }
}

/// Typed text: at most `max` characters and no control characters (the page shows it as text, never markup).
fn check_text(what: &str, text: &str, max: usize) -> Result<(), Malformed> {
    let count = text.chars().count();
    if count > max {
        return Err(Malformed(format!("the {what} has {count} characters; at most {max}")));
    }
    if text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(Malformed(format!("the {what} has control characters")));
    }
    Ok(())
}

/// Characters that reorder the text around them (a name that reads backwards on the projector).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// What the stage says to a phone.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ToPhone<'a> {
    /// Joined: who the phone is, and the key that brings it back as the same participant.
    Welcome {
        /// This participant's number.
        you: u32,
        /// The resume key (keep it for a reconnect).
        resume: &'a str,
    },
    /// Something this phone asked for was not done (the room is locked, the stem is someone else's).
    Notice {
        /// Why.
        text: &'a str,
    },
    /// The stage is closing this connection, and why.
    Bye {
        /// Why.
        reason: &'a str,
    },
}

impl ToPhone<'_> {
    /// The message as the JSON text sent.
    pub fn text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing() {
        assert!(matches!(
            FromPhone::parse(r#"{"t":"move","stem":1,"x":0.5,"z":-2,"g":3}"#),
            Ok(FromPhone::Move { stem: 1, g: 3, .. })
        ));
        for bad in [
            r#"{"t":"move","stem":1,"x":1e40,"z":0,"g":1}"#,
            r#"{"t":"move","stem":1,"x":"NaN","z":0,"g":1}"#,
            r#"{"t":"move","stem":-1,"x":0,"z":0,"g":1}"#,
            r#"{"t":"move","stem":1,"x":0,"z":0,"g":1,"extra":1}"#,
            r#"{"t":"sudo"}"#,
            r#"{"t":"size","stem":0,"size":99,"g":1}"#,
            r#"{"t":"note","stem":0,"at_s":1,"text":"<b>\u0007</b>"}"#,
            r#"{"t":"name","name":"\u202eevil"}"#,
            "not json",
        ] {
            assert!(FromPhone::parse(bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"t":"name","name":"{}"}}"#, "x".repeat(2000));
        assert!(FromPhone::parse(&long).unwrap_err().0.contains("bytes"));
    }
}
