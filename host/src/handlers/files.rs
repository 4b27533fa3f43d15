//! Reading files from the handlers folder (and the compile cache), which anyone who may
//! install a handler can write: only regular files, never more than a limit, and never a wait
//! on a FIFO or a device.

use std::path::Path;

use super::LoadError;

/// Reads `path` if it is a regular file (after following symlinks) of at most `max` bytes;
/// `None` if there is none. A FIFO, device, socket or folder named like a handler is refused
/// without waiting on it: the file is opened non-blocking and checked again once open (so a
/// swap between the two checks changes nothing), and never more than `max` bytes are read,
/// whatever size it claims. With `within`, a link must lead to a file inside that folder
/// (a link to `/proc/self/environ` or the config file is not a handler).
pub fn read_regular(
    path: &Path,
    max: u64,
    within: Option<&Path>,
) -> Result<Option<Vec<u8>>, LoadError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let kind = |meta: &std::fs::Metadata| {
        let t = meta.file_type();
        if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_dir() {
            "a folder"
        } else {
            "not a regular file"
        }
    };
    let not_a_file = |meta: &std::fs::Metadata| LoadError::NotAFile {
        path: path.display().to_string(),
        kind: kind(meta),
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    if let Some(folder) = within
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    {
        let target = std::fs::canonicalize(path).map_err(io_error(path))?;
        let folder = std::fs::canonicalize(folder).map_err(io_error(folder))?;
        if !target.starts_with(&folder) {
            return Err(LoadError::NotAFile {
                path: path.display().to_string(),
                kind: "a link out of its folder",
            });
        }
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let opened = file.metadata().map_err(io_error(path))?;
    if !opened.is_file() {
        return Err(not_a_file(&opened));
    }
    if let Some(folder) = within {
        // Checked again on what was opened: a link swapped after the check above (by whoever
        // may write the folder) must not read a file out of it.
        let folder = std::fs::canonicalize(folder).map_err(io_error(folder))?;
        if let Some(real) = opened_path(&file)
            && !real.starts_with(&folder)
        {
            return Err(LoadError::NotAFile {
                path: path.display().to_string(),
                kind: "a link out of its folder",
            });
        }
    }
    if opened.len() > max {
        return Err(LoadError::TooLarge {
            size: opened.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(opened.len() as usize);
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() as u64 > max {
        return Err(LoadError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(Some(bytes))
}

/// Where an open file really is, as the kernel says (Linux's `/proc/self/fd`); `None` where
/// that cannot be read.
fn opened_path(file: &std::fs::File) -> Option<std::path::PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

pub fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read_and_never_past_the_limit() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("ok.wasm");
        std::fs::write(&file, b"0123456789").expect("write");
        assert_eq!(
            read_regular(&file, 10, None).expect("read"),
            Some(b"0123456789".to_vec())
        );
        assert!(matches!(
            read_regular(&file, 9, None),
            Err(LoadError::TooLarge { size: 10, max: 9 })
        ));
        assert!(
            read_regular(&dir.path().join("none.wasm"), 10, None)
                .expect("none")
                .is_none()
        );
        let fifo = dir.path().join("stuck.wasm");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert!(matches!(
            read_regular(&fifo, 10, None),
            Err(LoadError::NotAFile { kind: "a FIFO", .. })
        ));
        let zero = dir.path().join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        assert!(matches!(
            read_regular(&zero, 10, None),
            Err(LoadError::NotAFile {
                kind: "a device",
                ..
            })
        ));
        let folder = dir.path().join("folder.wasm");
        std::fs::create_dir(&folder).expect("dir");
        assert!(matches!(
            read_regular(&folder, 10, None),
            Err(LoadError::NotAFile {
                kind: "a folder",
                ..
            })
        ));
        let link = dir.path().join("link.wasm");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert_eq!(
            read_regular(&link, 10, Some(dir.path()))
                .expect("link")
                .map(|b| b.len()),
            Some(10),
            "a link to a regular file in the folder is fine"
        );
        let out = dir.path().join("environ.toml");
        std::os::unix::fs::symlink("/proc/self/environ", &out).expect("symlink");
        assert!(matches!(
            read_regular(&out, 1 << 20, Some(dir.path())),
            Err(LoadError::NotAFile {
                kind: "a link out of its folder",
                ..
            })
        ));
    }
}
