//! The files the core reads and writes: a seam it is handed (the disk, or bytes the web page handed over) and
//! atomic writing (a temporary file and a rename). The bottom layer: it names nothing else in the crate.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Files kept in memory by path (normalised), shared by every clone.
type Handed = Arc<Mutex<HashMap<PathBuf, Arc<[u8]>>>>;

/// Where scenes and stems are read from. The desktop reads the disk; the browser (which has no filesystem)
/// hands its files over as bytes, and they are read before the disk. Cheap to clone: clones share the files.
#[derive(Clone, Default)]
pub struct FileSource {
    handed: Option<Handed>,
}

impl FileSource {
    /// The disk only.
    pub fn disk() -> FileSource {
        FileSource { handed: None }
    }

    /// Files handed over in memory (see [`FileSource::put`]), read before the disk.
    pub fn in_memory() -> FileSource {
        FileSource { handed: Some(Arc::default()) }
    }

    fn handed(&self) -> Option<MutexGuard<'_, HashMap<PathBuf, Arc<[u8]>>>> {
        self.handed.as_ref().map(|h| h.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether files are kept in memory (then saving keeps a file there instead of writing the disk).
    pub fn holds_files(&self) -> bool {
        self.handed.is_some()
    }

    /// Keeps `bytes` as the file at `path`, replacing what was there. The disk-only source keeps nothing.
    pub fn put(&self, path: &Path, bytes: Vec<u8>) {
        if let Some(mut files) = self.handed() {
            files.insert(normalise(path), bytes.into());
        }
    }

    /// The file at `path`, if it was handed over.
    pub fn get(&self, path: &Path) -> Option<Arc<[u8]>> {
        self.handed()?.get(&normalise(path)).cloned()
    }

    /// Forgets the file at `path` (once a stem is decoded its bytes are not needed any more).
    pub fn remove(&self, path: &Path) {
        if let Some(mut files) = self.handed() {
            files.remove(&normalise(path));
        }
    }

    /// Reads the file at `path` as text: the handed-over copy, or the disk's.
    pub fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        match self.get(path) {
            Some(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| std::io::Error::other("not UTF-8 text")),
            None => std::fs::read_to_string(path),
        }
    }

    /// Size of the file at `path`: the handed-over copy's, or the disk's.
    pub fn len(&self, path: &Path) -> std::io::Result<u64> {
        match self.get(path) {
            Some(bytes) => Ok(bytes.len() as u64),
            None => std::fs::metadata(path).map(|m| m.len()),
        }
    }

    /// Writes `bytes` as the file at `path`: kept in memory where files are (the page offers it as a download),
    /// else written to the disk atomically (with `keep_backup`, the old file is kept as `NAME.bak`).
    pub fn write(&self, path: &Path, bytes: &[u8], keep_backup: bool) -> std::io::Result<()> {
        if self.holds_files() {
            self.put(path, bytes.to_vec());
            return Ok(());
        }
        atomic_write(path, bytes, keep_backup)
    }
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.handed() {
            None => f.write_str("FileSource::disk"),
            Some(files) => write!(f, "FileSource::in_memory({} files)", files.len()),
        }
    }
}

/// Two sources are equal when they read the same files: both the disk, or the same memory.
impl PartialEq for FileSource {
    fn eq(&self, other: &FileSource) -> bool {
        match (&self.handed, &other.handed) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
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

/// Writes `path` through a temporary file in the same directory and a rename, so readers see the old file or
/// the complete new one, never half of either. With `keep_backup`, an existing file is kept as `NAME.bak`.
/// On any error the temporary file is removed and the original is untouched.
pub fn write_atomically(
    path: &Path,
    keep_backup: bool,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy()
        .into_owned();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut out = BufWriter::new(File::create(&temp)?);
        write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        drop(out);
        if keep_backup && path.exists() {
            std::fs::copy(path, dir.join(format!("{name}.bak")))?;
        }
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// [`write_atomically`] for bytes already in memory.
pub fn atomic_write(path: &Path, bytes: &[u8], keep_backup: bool) -> std::io::Result<()> {
    write_atomically(path, keep_backup, |out| out.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_one_file_however_they_are_spelt() {
        assert_eq!(normalise(Path::new("scenes/../assets/stems/a b.ogg")), Path::new("assets/stems/a b.ogg"));
        assert_eq!(normalise(Path::new("./x/./y")), Path::new("x/y"));
        assert_eq!(normalise(Path::new("../up")), Path::new("../up"));
        let files = FileSource::in_memory();
        let path = Path::new("page-files-test/scenes/../s.ron");
        files.put(Path::new("page-files-test/s.ron"), b"()".to_vec());
        assert_eq!(files.read_to_string(path).unwrap(), "()");
        assert_eq!(files.len(path).unwrap(), 2);
        assert!(FileSource::disk().get(path).is_none(), "the disk-only source holds nothing in memory");
        assert!(files.clone() == files && files != FileSource::in_memory() && FileSource::disk() == FileSource::disk());
        files.remove(path);
        assert!(files.get(path).is_none());
    }

    #[test]
    fn a_source_in_memory_keeps_what_is_written_and_leaves_the_disk_alone() {
        let path = std::env::temp_dir().join(format!("proxemix-files-{}/never.ron", std::process::id()));
        let files = FileSource::in_memory();
        files.write(&path, b"kept", true).unwrap();
        assert_eq!(files.read_to_string(&path).unwrap(), "kept");
        assert!(!path.exists(), "nothing was written to the disk");
    }
}
