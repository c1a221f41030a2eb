//! Proxemix stages a mix in space: each stem is a body in a room around one listener (see DESIGN.md).

pub mod bench;
pub mod commands;
pub mod handout;
pub mod mix;
pub mod page_files;
pub mod scene;

#[cfg(feature = "app")]
pub mod app;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
