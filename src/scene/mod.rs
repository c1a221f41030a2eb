//! The scene: a hand-editable RON document (format version 2: a staging, an intent card and a timeline;
//! version 1 files still load), validated before anything reaches kira. Its model, its file and its pure
//! timeline, each in its own file; this one only gathers them.
#![warn(missing_docs)]

pub mod automation;
pub mod file;
pub mod model;
pub mod timeline;

pub use file::SceneError;
pub use model::*;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const GOOD: &str = r#"(
        version: 1,
        name: "Intimate",
        notes: "A voice close to you.",
        room: (size: 12.0, decay_s: 1.6, damping: 0.5),
        stems: [
            (name: "vocal", file: "../assets/stems/vocal.ogg", position: (0.0, 1.6, -0.5), size: 1.0, gain_db: 0.0, spoil: 0.0, muted: false, solo: false),
            (name: "bass", file: "bass.wav", position: (1.0, 0.5, -3.0)),
        ],
    )"#;

    fn parse(text: &str) -> Result<Scene, SceneError> {
        Scene::parse(text, Path::new("test.ron"))
    }

    #[test]
    fn the_issue_example_parses_with_defaults() {
        let scene = parse(GOOD).unwrap();
        assert_eq!(scene.stems.len(), 2);
        assert_eq!(scene.stems[1].size, 1.0);
        assert_eq!(scene.ceiling_dbtp, -1.0);
        assert_eq!(scene.room.reverb_db, 0.0);
    }

    #[test]
    fn round_trips_through_ron() {
        let scene = parse(GOOD).unwrap();
        let again = parse(&scene.to_ron()).unwrap();
        assert_eq!(scene, again);
    }

    #[test]
    fn unknown_fields_are_errors_with_a_position() {
        let text = GOOD.replace("size: 1.0, gain_db", "sise: 1.0, gain_db");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("test.ron:7:"), "{err}");
        assert!(err.contains("sise"), "{err}");
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let text = GOOD.replace("name: \"bass\",", "name: \"bass\"");
        let err = parse(&text).unwrap_err();
        match err {
            SceneError::Syntax { line, .. } => assert_eq!(line, 8),
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    #[test]
    fn hostile_numbers_name_the_field() {
        for (from, to, field) in [
            ("(0.0, 1.6, -0.5)", "(NaN, 1.6, -0.5)", "stems[0].position (x)"),
            ("(0.0, 1.6, -0.5)", "(0.0, inf, -0.5)", "stems[0].position (y)"),
            ("(0.0, 1.6, -0.5)", "(0.0, 1.6, -1e30)", "stems[0].position (z)"),
            ("size: 1.0", "size: -1.0", "stems[0].size"),
            ("spoil: 0.0", "spoil: 7.0", "stems[0].spoil"),
            ("decay_s: 1.6", "decay_s: 1e39", "room.decay_s"),
            ("version: 1", "version: 9", "version"),
            ("name: \"bass\"", "name: \"vocal\"", "stems[1].name"),
        ] {
            let err = parse(&GOOD.replace(from, to)).unwrap_err();
            match &err {
                SceneError::Invalid { field: f, .. } => assert_eq!(f, field, "{err}"),
                other => panic!("{to}: expected an invalid value, got {other}"),
            }
        }
    }

    #[test]
    fn files_resolve_against_the_scene_directory() {
        let scene = parse(GOOD).unwrap();
        let p = Scene::resolve_file(Path::new("/a/scenes/x.ron"), &scene.stems[0]);
        assert_eq!(p, Path::new("/a/scenes/../assets/stems/vocal.ogg"));
    }
}
