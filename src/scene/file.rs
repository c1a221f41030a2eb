//! The scene file: read (from the disk or the bytes handed over), parsed, validated, written back as RON that
//! people can read and diff, atomically.

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::*;
use super::timeline;
use crate::files::FileSource;

/// Why a scene could not be read; every variant names the file.
#[derive(Debug)]
pub enum SceneError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        message: String,
    },
    /// The file is not valid RON (where, and why).
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where (from 1).
        line: usize,
        /// Where in the line (from 1).
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A value is out of range (its field path, and why).
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field path, e.g. `stems[2].position (x)`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl fmt::Display for SceneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SceneError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            SceneError::Syntax { path, line, column, message } => {
                write!(f, "{}:{line}:{column}: {message}", path.display())
            }
            SceneError::Invalid { path, field, message } => {
                write!(f, "{}: {field}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for SceneError {}

impl Scene {
    /// Moves an older scene to the current format before something only that format holds is added (keys,
    /// notes, votes, takes): a version-1 file is saved as version 2, never refused on save.
    pub fn use_current_format(&mut self) {
        self.version = self.version.max(super::model::FORMAT_VERSION);
    }

    /// Reads, parses and validates a scene file from the disk.
    pub fn load(path: &Path) -> Result<Scene, SceneError> {
        Scene::load_from(&FileSource::disk(), path)
    }

    /// Reads, parses and validates a scene file from `files` (the disk, or what the web page handed over).
    pub fn load_from(files: &FileSource, path: &Path) -> Result<Scene, SceneError> {
        let io = |message: String| SceneError::Io { path: path.to_owned(), message };
        // Never read past the limit (a link to an endless device would otherwise be read forever) and never
        // wait on a FIFO: only a regular file is opened.
        let text = files.read_text(path, MAX_SCENE_BYTES).map_err(|e| io(format!("cannot read scene file: {e}")))?;
        Scene::parse(&text, path)
    }

    /// Parses and validates scene text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Scene, SceneError> {
        // Editors on some systems save UTF-8 with a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Implicit Some: a keyframe says `spoil: 0.4`, not `spoil: Some(0.4)`.
        let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let scene: Scene = options.from_str(text).map_err(|e| SceneError::Syntax {
            path: path.to_owned(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        })?;
        scene.validate().map_err(|Invalid { field, message }| SceneError::Invalid {
            path: path.to_owned(),
            field,
            message,
        })?;
        Ok(scene)
    }

    /// Checks every value against [`limits`]; the first problem is reported with its field path.
    pub fn validate(&self) -> Result<(), Invalid> {
        use limits::*;
        if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&self.version) {
            return Err(invalid(
                "version",
                format!(
                    "format version {} is not supported (this build reads versions {OLDEST_VERSION} to {FORMAT_VERSION})",
                    self.version
                ),
            ));
        }
        if self.version < 2 {
            let v2_field = if self.timeline.is_some() {
                Some("timeline")
            } else if self.intent.is_some() {
                Some("intent")
            } else if !self.comments.is_empty() {
                Some("comments")
            } else if !self.takes.is_empty() {
                Some("takes")
            } else if !self.votes.is_empty() {
                Some("votes")
            } else {
                self.stems.iter().position(|s| !s.keys.is_empty()).map(|_| "stems[].keys")
            };
            if let Some(field) = v2_field {
                return Err(invalid(field, "needs format version 2 (write `version: 2`)".into()));
            }
        }
        check_range("room.return_db", self.room.return_db, EFFECTS_DB)?;
        check_range("room.size", self.room.size, ROOM_SIZE_M)?;
        check_range("room.decay_s", self.room.decay_s, DECAY_S)?;
        check_range("room.damping", self.room.damping, DAMPING)?;
        check_range("room.reverb_db", self.room.reverb_db, REVERB_DB)?;
        check_range("master_gain_db", self.master_gain_db, GAIN_DB)?;
        check_range("master_spoil", self.master_spoil, SPOIL)?;
        check_range("ceiling_dbtp", self.ceiling_dbtp, CEILING_DBTP)?;
        if self.stems.len() > MAX_STEMS {
            return Err(invalid("stems", format!("{} stems; at most {MAX_STEMS} are supported", self.stems.len())));
        }
        // Names seen so far, with where: a duplicate is found in one pass, however many stems.
        let mut names: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::with_capacity(self.stems.len());
        for (i, stem) in self.stems.iter().enumerate() {
            let at = |field: &str| format!("stems[{i}].{field}");
            if stem.name.trim().is_empty() {
                return Err(invalid(&at("name"), "must not be empty".into()));
            }
            if let Some(&first) = names.get(stem.name.as_str()) {
                return Err(invalid(
                    &at("name"),
                    format!("\"{}\" is already the name of stems[{first}]; names identify stems", stem.name),
                ));
            }
            names.insert(stem.name.as_str(), i);
            if stem.file.trim().is_empty() {
                return Err(invalid(&at("file"), "must name an audio file".into()));
            }
            for (axis, v) in ["x", "y", "z"].iter().zip(stem.position_array()) {
                check_range(&format!("{} ({axis})", at("position")), v, COORD_M)?;
            }
            check_range(&at("size"), stem.size, SIZE)?;
            check_range(&at("gain_db"), stem.gain_db, GAIN_DB)?;
            check_range(&at("spoil"), stem.spoil, SPOIL)?;
            check_range(&at("send_db"), stem.send_db, EFFECTS_DB)?;
            if stem.keys.len() > MAX_KEYS {
                return Err(invalid(&at("keys"), format!("{} keyframes; at most {MAX_KEYS}", stem.keys.len())));
            }
            for (k, key) in stem.keys.iter().enumerate() {
                let at = |field: &str| format!("stems[{i}].keys[{k}].{field}");
                if let Some(p) = key.position {
                    for (axis, v) in ["x", "y", "z"].iter().zip([p.0, p.1, p.2]) {
                        check_range(&format!("{} ({axis})", at("position")), v, COORD_M)?;
                    }
                }
                if let Some(v) = key.size {
                    check_range(&at("size"), v, SIZE)?;
                }
                if let Some(v) = key.spoil {
                    check_range(&at("spoil"), v, SPOIL)?;
                }
                if let Some(v) = key.send_db {
                    check_range(&at("send_db"), v, EFFECTS_DB)?;
                }
                if let Some(v) = key.gain_db {
                    check_range(&at("gain_db"), v, GAIN_DB)?;
                }
            }
        }
        if let Some(timeline) = &self.timeline {
            if timeline.room.len() > MAX_KEYS {
                return Err(invalid("timeline.room", format!("{} keyframes; at most {MAX_KEYS}", timeline.room.len())));
            }
            for (k, key) in timeline.room.iter().enumerate() {
                if let Some(v) = key.return_db {
                    check_range(&format!("timeline.room[{k}].return_db"), v, EFFECTS_DB)?;
                }
                if let Some(v) = key.reverb_db {
                    check_range(&format!("timeline.room[{k}].reverb_db"), v, REVERB_DB)?;
                }
                if let Some(v) = key.master_gain_db {
                    check_range(&format!("timeline.room[{k}].master_gain_db"), v, GAIN_DB)?;
                }
            }
        }
        for (v, vote) in self.votes.iter().enumerate() {
            check_chars(&format!("votes[{v}].question"), &vote.question, COMMENT_CHARS)?;
            if vote.answers.len() > 16 {
                return Err(invalid(&format!("votes[{v}].answers"), "at most 16 answers".into()));
            }
            for (answer, _) in &vote.answers {
                check_chars(&format!("votes[{v}].answers"), answer, NAME_CHARS)?;
            }
        }
        if self.comments.len() > MAX_COMMENTS || self.takes.len() > MAX_COMMENTS || self.votes.len() > MAX_COMMENTS {
            return Err(invalid("comments", format!("more than {MAX_COMMENTS} notes or take credits")));
        }
        for (c, comment) in self.comments.iter().enumerate() {
            let at = |field: &str| format!("comments[{c}].{field}");
            if !names.contains_key(comment.stem.as_str()) {
                return Err(invalid(&at("stem"), format!("\"{}\" is not a stem of this scene", comment.stem)));
            }
            check_time(&at("at_s"), comment.at_s)?;
            check_chars(&at("text"), &comment.text, COMMENT_CHARS)?;
            check_chars(&at("by"), &comment.by, NAME_CHARS)?;
        }
        for (t, take) in self.takes.iter().enumerate() {
            let at = |field: &str| format!("takes[{t}].{field}");
            check_time(&at("from_s"), take.from_s)?;
            check_time(&at("to_s"), take.to_s)?;
            if take.by.len() > limits::MAX_COMMENTS || take.lanes.len() > 2 * MAX_STEMS + 8 {
                return Err(invalid(&at("by"), "too many names or lanes".into()));
            }
            for name in take.by.iter().chain(&take.lanes) {
                check_chars(&at("by"), name, COMMENT_CHARS)?;
            }
        }
        // Times, tempo and section names: resolving the timeline checks them all.
        timeline::Resolved::of(self)?;
        Ok(())
    }

    /// The audio file of `stem`, resolved against the directory of the scene file.
    pub fn resolve_file(scene_path: &Path, stem: &Stem) -> PathBuf {
        let file = Path::new(&stem.file);
        if file.is_absolute() { file.to_owned() } else { scene_path.parent().unwrap_or(Path::new(".")).join(file) }
    }

    /// The scene as RON text, formatted for people: one line per stem, per keyframe, per section and per cue,
    /// which is how people read and diff a staging.
    pub fn to_ron(&self) -> String {
        use std::fmt::Write as _;
        // Compact values with implicit Some (the reader enables it too), so a keyframe says `spoil: 0.4`.
        let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let ron = |value: &dyn erased::Ron| value.to_ron(&options);
        let list = |out: &mut String, indent: &str, items: Vec<String>| {
            out.push_str("[\n");
            for item in items {
                let _ = writeln!(out, "{indent}    {item},");
            }
            let _ = write!(out, "{indent}]");
        };
        let mut out = String::from("(\n");
        let _ = writeln!(out, "    version: {},", self.version);
        let _ = writeln!(out, "    name: {},", ron(&self.name));
        let _ = writeln!(out, "    notes: {},", ron(&self.notes));
        let _ = writeln!(out, "    room: {},", ron(&self.room));
        out.push_str("    stems: [\n");
        for stem in &self.stems {
            let bare = Stem { keys: Vec::new(), ..stem.clone() };
            let line = ron(&bare);
            if stem.keys.is_empty() {
                let _ = writeln!(out, "        {line},");
            } else {
                let _ = write!(out, "        {}, keys: ", line.trim_end_matches(')'));
                list(&mut out, "        ", stem.keys.iter().map(|k| ron(k)).collect());
                out.push_str("),\n");
            }
        }
        out.push_str("    ],\n");
        let _ = writeln!(out, "    master_gain_db: {},", ron(&self.master_gain_db));
        let _ = writeln!(out, "    master_spoil: {},", ron(&self.master_spoil));
        let _ = writeln!(out, "    ceiling_dbtp: {},", ron(&self.ceiling_dbtp));
        if let Some(intent) = &self.intent {
            out.push_str("    intent: (\n");
            let _ = writeln!(out, "        title: {},", ron(&intent.title));
            let _ = writeln!(out, "        communicates: {},", ron(&intent.communicates));
            out.push_str("        cues: ");
            list(&mut out, "        ", intent.cues.iter().map(|c| ron(c)).collect());
            out.push_str(",\n    ),\n");
        }
        if let Some(timeline) = &self.timeline {
            out.push_str("    timeline: (\n");
            if let Some(tempo) = &timeline.tempo {
                let _ = writeln!(out, "        tempo: {},", ron(tempo));
            }
            out.push_str("        sections: ");
            list(&mut out, "        ", timeline.sections.iter().map(|s| ron(s)).collect());
            out.push_str(",\n");
            if !timeline.room.is_empty() {
                out.push_str("        room: ");
                list(&mut out, "        ", timeline.room.iter().map(|k| ron(k)).collect());
                out.push_str(",\n");
            }
            out.push_str("    ),\n");
        }
        if !self.comments.is_empty() {
            out.push_str("    comments: ");
            list(&mut out, "    ", self.comments.iter().map(|c| ron(c)).collect());
            out.push_str(",\n");
        }
        if !self.votes.is_empty() {
            out.push_str("    votes: ");
            list(&mut out, "    ", self.votes.iter().map(|v| ron(v)).collect());
            out.push_str(",\n");
        }
        if !self.takes.is_empty() {
            out.push_str("    takes: ");
            list(&mut out, "    ", self.takes.iter().map(|t| ron(t)).collect());
            out.push_str(",\n");
        }
        out.push_str(")\n");
        out
    }

    /// Writes the scene to the disk atomically: a temporary file beside the target, then a rename.
    /// An existing file is kept as `NAME.bak`.
    pub fn save(&self, path: &Path) -> Result<(), SceneError> {
        self.save_to(&FileSource::disk(), path)
    }

    /// [`Scene::save`] into `files`: the disk, or (in the browser) the page's files, which offer it as a download.
    pub fn save_to(&self, files: &FileSource, path: &Path) -> Result<(), SceneError> {
        self.validate().map_err(|Invalid { field, message }| SceneError::Invalid {
            path: path.to_owned(),
            field,
            message,
        })?;
        let io = |e: std::io::Error| SceneError::Io { path: path.to_owned(), message: format!("cannot save: {e}") };
        files.write(path, self.to_ron().as_bytes(), true).map_err(io)
    }
}

fn invalid(field: &str, message: String) -> Invalid {
    Invalid { field: field.to_owned(), message }
}

fn check_range(field: &str, value: f32, (lo, hi): (f32, f32)) -> Result<(), Invalid> {
    if !value.is_finite() {
        return Err(invalid(field, format!("{value} is not a finite number")));
    }
    if value < lo || value > hi {
        return Err(invalid(field, format!("{value} is outside the allowed range {lo} ..= {hi}")));
    }
    Ok(())
}

fn check_time(field: &str, value: f64) -> Result<(), Invalid> {
    let (lo, hi) = limits::TIME_S;
    if !value.is_finite() || value < lo || value > hi {
        return Err(invalid(field, format!("{value} is not a song time in {lo} ..= {hi} s")));
    }
    Ok(())
}

/// Text that people type: at most `max` characters, no control characters.
fn check_chars(field: &str, text: &str, max: usize) -> Result<(), Invalid> {
    let count = text.chars().count();
    if count > max {
        return Err(invalid(field, format!("{count} characters; at most {max}")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "has control characters".into()));
    }
    Ok(())
}

/// Serialising values of different types through one closure in [`Scene::to_ron`].
mod erased {
    pub trait Ron {
        fn to_ron(&self, options: &ron::Options) -> String;
    }

    impl<T: serde::Serialize> Ron for T {
        fn to_ron(&self, options: &ron::Options) -> String {
            // One line with spaces after the colons and commas, quotes left as typed.
            let inline = ron::ser::PrettyConfig::new()
                .depth_limit(0)
                .struct_names(false)
                .escape_strings(false)
                .new_line(" ".to_string())
                .indentor(String::new());
            // Plain data with no maps or non-finite floats (validated): it always serialises.
            options.to_string_pretty(self, inline).expect("scene values serialise")
        }
    }
}
