//! The files the core reads and writes: a seam it is handed (the disk, or bytes the web page handed over),
//! bounded reads of regular files only, atomic writing (a temporary file and a rename) and the checks an output
//! passes before any work starts. The bottom layer: it names nothing else in the crate.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, FileType, Metadata};
use std::io::{self, BufWriter, Read, Write};
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

    /// Reads the file at `path` as UTF-8 text of at most `limit` bytes (a byte-order mark is dropped): the
    /// handed-over copy, or the disk's (a regular file only, never read past the limit).
    pub fn read_text(&self, path: &Path, limit: u64) -> io::Result<String> {
        let bytes = match self.get(path) {
            Some(bytes) if bytes.len() as u64 > limit => return Err(too_large(bytes.len() as u64, limit)),
            Some(bytes) => bytes.to_vec(),
            None => read_bounded(path, limit)?,
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text (at byte {at})"))
        })?;
        Ok(match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        })
    }

    /// Writes `bytes` as the file at `path`: kept in memory where files are (the page offers it as a download),
    /// else written to the disk atomically (with `keep_backup`, the old file is kept as `NAME.bak`).
    pub fn write(&self, path: &Path, bytes: &[u8], keep_backup: bool) -> io::Result<()> {
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

/// Opens `path` for reading if it is a regular file (links followed). A FIFO, a device, a socket or a folder is
/// refused by what it is, without waiting on it: the open does not block (a FIFO with no writer would hang a
/// plain open forever) and the kind is read from the opened file, so a link swapped in between cannot slip
/// past.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("is {}, not a regular file", describe(kind))));
    }
    Ok(file)
}

/// What a file system entry is, in words ("a folder", "a FIFO (named pipe)", ...).
pub fn describe(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// The whole of a regular file of at most `limit` bytes; one byte past the limit is as far as it is read.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

fn too_large(len: u64, limit: u64) -> io::Error {
    let more = if len > limit { " or more" } else { "" };
    io::Error::new(io::ErrorKind::InvalidData, format!("{len} bytes{more} is larger than the {limit}-byte limit"))
}

/// The folder `path` is in (`.` for a bare name).
pub fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Whether two entries are one file (the same inode on the same device, however they are reached).
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Checks, before any work starts, that `out` can be written and that writing it destroys nothing the user did
/// not name: it is not (nor leads, through links or hard links, to) any of `inputs`, not a folder, FIFO or
/// device; its folder exists and takes a new file. Says why not, in words that follow the output's name.
pub fn check_output(out: &Path, inputs: &[PathBuf]) -> Result<(), String> {
    if out.file_name().is_none() {
        return Err("is not a file name".into());
    }
    match std::fs::metadata(out) {
        Ok(there) => {
            if !there.is_file() {
                return Err(format!("is {}; give the name of a file to write", describe(there.file_type())));
            }
            for input in inputs {
                if std::fs::metadata(input).is_ok_and(|m| same_file(&there, &m)) {
                    return Err(format!(
                        "leads to {}, an input of this render (writing it would destroy it); choose another name",
                        input.display()
                    ));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot be checked: {e}")),
    }
    let folder = folder_of(out);
    match std::fs::metadata(&folder) {
        Ok(m) if m.is_dir() => {}
        Ok(m) => return Err(format!("is in {}, which is {}, not a folder", folder.display(), describe(m.file_type()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("is in {}, which does not exist", folder.display()));
        }
        Err(e) => return Err(format!("is in {}, which cannot be read: {e}", folder.display())),
    }
    // The folder takes a new file: make the temporary file the write will use, and remove it.
    let temp = temporary_path(out)?;
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
        Ok(_) => {
            let _ = std::fs::remove_file(&temp);
            Ok(())
        }
        Err(e) => Err(format!("cannot be written in {}: {e}", folder.display())),
    }
}

/// Free space (bytes) in the file system that holds `folder`, where it can be told.
pub fn available_space(folder: &Path) -> Option<u64> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let stats = rustix::fs::statvfs(folder).ok()?;
        Some(stats.f_bavail.saturating_mul(stats.f_frsize))
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = folder;
        None
    }
}

/// What the temporary files are called: `.NAME.proxemix-PID.tmp` beside the target, so a later run can tell
/// its own from a dead run's (the PID) and from anything else's (the marker).
const TEMP_MARK: &str = ".proxemix-";

fn temporary_path(path: &Path) -> Result<PathBuf, String> {
    let name = path.file_name().ok_or("is not a file name")?.to_string_lossy();
    Ok(folder_of(path).join(format!(".{name}{TEMP_MARK}{}.tmp", std::process::id())))
}

/// The process that made a temporary file, from its name (`None`: not one of ours).
fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, pid) = rest.rsplit_once(TEMP_MARK)?;
    pid.parse().ok()
}

/// Whether process `pid` is still running (where that can be told; elsewhere it is assumed to be).
fn running(pid: u32) -> bool {
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
}

/// Removes the temporary files in `folder` that this process made (`own`), or that runs which are gone made
/// (killed before they could clean up). Returns how many it removed.
pub fn remove_temporaries(folder: &Path, own: bool) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else { return 0 };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_owner) else { continue };
        let ours = if own { pid == me } else { pid != me && !running(pid) };
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Writes `path` through a temporary file in the same directory and a rename, so readers see the old file or
/// the complete new one, never half of either. With `keep_backup`, an existing file is kept as `NAME.bak` (or
/// `NAME.2.bak`, `NAME.3.bak`... : an older backup is never replaced). On any error the temporary file is
/// removed and the original is untouched. Temporary files left by killed runs in that folder are removed first.
pub fn write_atomically(
    path: &Path,
    keep_backup: bool,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temporary_path(path).map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
    let folder = folder_of(path);
    remove_temporaries(&folder, false);
    let result = (|| {
        let mut out = BufWriter::new(File::create(&temp)?);
        write(&mut out)?;
        out.flush()?;
        out.get_ref().sync_all()?;
        drop(out);
        if keep_backup && std::fs::symlink_metadata(path).is_ok() {
            keep_as_backup(path)?;
        }
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Keeps the file at `path` under the first free backup name: `NAME.bak`, then `NAME.2.bak`, ...
fn keep_as_backup(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let folder = folder_of(path);
    for n in 1..10_000u32 {
        let backup = folder.join(if n == 1 { format!("{name}.bak") } else { format!("{name}.{n}.bak") });
        // A hard link keeps the old file's bytes as they are (the rename then points the name at the new
        // one) and is never made over an existing backup; a file system without links gets a copy.
        match std::fs::hard_link(path, &backup) {
            Ok(()) => return Ok(backup),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                if std::fs::symlink_metadata(&backup).is_ok() {
                    continue;
                }
                let mut from = open_regular(path)?;
                let mut to = std::fs::OpenOptions::new().write(true).create_new(true).open(&backup)?;
                io::copy(&mut from, &mut to)?;
                return Ok(backup);
            }
        }
    }
    Err(io::Error::other(format!("{}: too many backups already (NAME.bak to NAME.9999.bak)", path.display())))
}

/// [`write_atomically`] for bytes already in memory.
pub fn atomic_write(path: &Path, bytes: &[u8], keep_backup: bool) -> io::Result<()> {
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
        assert_eq!(files.read_text(path, 2).unwrap(), "()");
        assert!(files.read_text(path, 1).unwrap_err().to_string().contains("larger than"));
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
        assert_eq!(files.read_text(&path, 100).unwrap(), "kept");
        assert!(!path.exists(), "nothing was written to the disk");
    }
}
