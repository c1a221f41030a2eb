//! Files handed over by the web page (a browser has no filesystem): kept in memory by path and read before
//! the disk, so scenes and stems open the same way on the desktop and in the browser.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

static FILES: Mutex<Option<HashMap<PathBuf, Arc<[u8]>>>> = Mutex::new(None);

fn files() -> MutexGuard<'static, Option<HashMap<PathBuf, Arc<[u8]>>>> {
    FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// `path` without `.` and with each `..` taken back, so `scenes/../assets/a.ogg` and `assets/a.ogg` are one
/// file (a scene names its stems relative to itself; the page hands them over relative to its own root).
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Keeps `bytes` as the file at `path` (replacing what was there).
pub fn put(path: &Path, bytes: Vec<u8>) {
    files().get_or_insert_with(HashMap::new).insert(normalise(path), bytes.into());
}

/// The file at `path`, if the page handed it over.
pub fn get(path: &Path) -> Option<Arc<[u8]>> {
    files().as_ref()?.get(&normalise(path)).cloned()
}

/// Forgets the file at `path` (once decoded, a stem's bytes are not needed any more).
pub fn remove(path: &Path) {
    if let Some(files) = files().as_mut() {
        files.remove(&normalise(path));
    }
}

/// Reads the file at `path` as text: the page's copy, or the disk's.
pub fn read_to_string(path: &Path) -> std::io::Result<String> {
    match get(path) {
        Some(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| std::io::Error::other("not UTF-8 text")),
        None => std::fs::read_to_string(path),
    }
}

/// Size of the file at `path`: the page's copy, or the disk's.
pub fn len(path: &Path) -> std::io::Result<u64> {
    match get(path) {
        Some(bytes) => Ok(bytes.len() as u64),
        None => std::fs::metadata(path).map(|m| m.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_one_file_however_they_are_spelt() {
        assert_eq!(normalise(Path::new("scenes/../assets/stems/a b.ogg")), Path::new("assets/stems/a b.ogg"));
        assert_eq!(normalise(Path::new("./x/./y")), Path::new("x/y"));
        assert_eq!(normalise(Path::new("../up")), Path::new("../up"));
        let path = Path::new("page-files-test/scenes/../s.ron");
        put(Path::new("page-files-test/s.ron"), b"()".to_vec());
        assert_eq!(read_to_string(path).unwrap(), "()");
        assert_eq!(len(path).unwrap(), 2);
        remove(path);
        assert!(get(path).is_none());
    }
}
