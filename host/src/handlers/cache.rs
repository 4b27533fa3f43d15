//! The compile cache: optimised native code on disk, so that a restart (or a second iohost on
//! the same disk) does not compile the same handler again.
//!
//! wasmtime runs cached code as it is, so a cache entry is native code with iohost's rights. An
//! entry is therefore never trusted for its name or its place: each carries an HMAC-SHA256 tag
//! over the handler's sha256, the compiler's compatibility hash and the code, under a key only
//! iohost's user can read (`<cache_dir>/cache.key`, made with mode 0600 on first use). An entry
//! copied to another handler's name, written by anyone else, cut short or changed fails the
//! check: it is logged, ignored and the code is compiled again. A key file that someone else
//! owns or may read turns the cache off (logged); handlers still load, compiled every time.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::files::read_regular;

/// The first bytes of every entry (format version 1).
const MAGIC: &[u8; 8] = b"iohostc1";
/// Bytes of the authentication tag after [`MAGIC`].
const TAG_BYTES: usize = 32;
/// The key's file name inside the cache folder.
const KEY_FILE: &str = "cache.key";
/// Largest entry read back (the JavaScript example's code is ~40 MB).
const MAX_ENTRY_BYTES: u64 = 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} must be a file of {TAG_BYTES} bytes that only iohost's user (uid {uid}) owns and may read (mode 0600)"
    )]
    UnsafeKey { path: String, uid: u32 },
    #[error("not an iohost cache entry")]
    Malformed,
    #[error("its authentication tag does not match: iohost did not write it for this handler")]
    Forged,
}

/// Where cached code lives and the key that proves iohost wrote it.
pub struct CodeCache {
    dir: PathBuf,
    /// `None`: the cache is off (the reason was logged once).
    key: Option<[u8; TAG_BYTES]>,
}

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeCache")
            .field("dir", &self.dir)
            .field("on", &self.key.is_some())
            .finish()
    }
}

impl CodeCache {
    /// The cache in `dir` (made if missing, mode 0700), with its key (made if missing). A
    /// cache that cannot be used is off: logged, and handlers compile every time.
    pub fn open(dir: &Path) -> Self {
        let key = open_key(dir)
            .inspect_err(|e| {
                tracing::warn!(
                    dir = %dir.display(),
                    "compile cache off, handlers are compiled on every load: {e}"
                );
            })
            .ok();
        Self {
            dir: dir.to_owned(),
            key,
        }
    }

    /// A cache that holds nothing (`iohost handlers check`, tests).
    pub fn off() -> Self {
        Self {
            dir: PathBuf::new(),
            key: None,
        }
    }

    /// The code cached for the handler with source `sha256` on the compiler whose
    /// compatibility hash is `engine`, if iohost wrote it; anything else is logged and ignored.
    pub fn get(&self, sha256: &str, engine: u64) -> Option<Vec<u8>> {
        let key = self.key.as_ref()?;
        let path = self.path(sha256, engine);
        let entry = match read_regular(&path, MAX_ENTRY_BYTES, None) {
            Ok(entry) => entry?,
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring a compile cache entry: {e}");
                return None;
            }
        };
        open_entry(key, sha256, engine, entry)
            .inspect_err(|e| {
                tracing::warn!(
                    path = %path.display(),
                    "ignoring a compile cache entry, compiling again: {e}"
                );
                metrics::counter!(crate::metrics::CACHE_REJECTED).increment(1);
            })
            .ok()
    }

    /// Stores `code` for [`Self::get`]. Failures are logged: the cache is only a shortcut.
    pub fn put(&self, sha256: &str, engine: u64, code: &[u8]) {
        let Some(key) = &self.key else {
            return;
        };
        let path = self.path(sha256, engine);
        let written = write_atomically(&path, &[MAGIC, &tag(key, sha256, engine, code)[..], code]);
        if let Err(e) = written {
            tracing::debug!(path = %path.display(), "cannot write the compile cache: {e}");
        }
    }

    fn path(&self, sha256: &str, engine: u64) -> PathBuf {
        self.dir.join(format!("{sha256}-{engine:016x}.cwasm"))
    }
}

/// The code inside `entry` if its tag is right for this handler and compiler.
fn open_entry(
    key: &[u8; TAG_BYTES],
    sha256: &str,
    engine: u64,
    mut entry: Vec<u8>,
) -> Result<Vec<u8>, CacheError> {
    if entry.len() < MAGIC.len() + TAG_BYTES || !entry.starts_with(MAGIC) {
        return Err(CacheError::Malformed);
    }
    let code = entry.split_off(MAGIC.len() + TAG_BYTES);
    let claimed = &entry[MAGIC.len()..];
    mac(key, sha256, engine, &code)
        .verify_slice(claimed)
        .map_err(|_| CacheError::Forged)?;
    Ok(code)
}

fn mac(key: &[u8; TAG_BYTES], sha256: &str, engine: u64, code: &[u8]) -> Hmac<Sha256> {
    // Every input has a fixed length or comes last, so no two inputs give the same message.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"iohost compile cache 1\0");
    mac.update(&(sha256.len() as u64).to_le_bytes());
    mac.update(sha256.as_bytes());
    mac.update(&engine.to_le_bytes());
    mac.update(code);
    mac
}

fn tag(key: &[u8; TAG_BYTES], sha256: &str, engine: u64, code: &[u8]) -> [u8; TAG_BYTES] {
    mac(key, sha256, engine, code)
        .finalize()
        .into_bytes()
        .into()
}

/// Reads the cache's key, or makes one: a new folder is private to iohost's user (0700), the
/// key file too (0600). An existing key is used only if iohost's user owns it and nobody else
/// may read or write it.
fn open_key(dir: &Path) -> Result<[u8; TAG_BYTES], CacheError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| CacheError::Io { path, source }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    let path = dir.join(KEY_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        // A new key is written whole to a private file first, then linked into place: a
        // second iohost starting at the same moment reads either no key or a whole one.
        let mut fresh = [0u8; TAG_BYTES];
        crate::random::fill(&mut fresh).map_err(io(&path))?;
        let tmp = dir.join(format!(
            ".{KEY_FILE}.{}.{}",
            std::process::id(),
            crate::random::hex(8).map_err(io(dir))?
        ));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| file.write_all(&fresh))
            .map_err(io(&tmp))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => return Ok(fresh),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    let uid = rustix::process::geteuid().as_raw();
    let unsafe_key = || CacheError::UnsafeKey {
        path: path.display().to_string(),
        uid,
    };
    // Opened without following a link, and checked on the open file: what is read is what
    // was checked, whatever is renamed in the folder meanwhile.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(&path)
        .map_err(|_| unsafe_key())?;
    let meta = file.metadata().map_err(io(&path))?;
    if !meta.is_file() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(unsafe_key());
    }
    let mut key = [0u8; TAG_BYTES];
    let mut rest = Vec::new();
    let mut file = std::io::Read::take(file, TAG_BYTES as u64 + 1);
    std::io::Read::read_exact(&mut file, &mut key).map_err(|_| unsafe_key())?;
    std::io::Read::read_to_end(&mut file, &mut rest).map_err(io(&path))?;
    if !rest.is_empty() {
        return Err(unsafe_key());
    }
    Ok(key)
}

/// Writes `parts` to `path` so that it appears whole or not at all: several iohost processes
/// may share a cache folder, each writes its own temporary file and renames it into place.
fn write_atomically(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!(
        "{}-{n}-{}.tmp",
        std::process::id(),
        crate::random::hex(4)?
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| parts.iter().try_for_each(|part| file.write_all(part)));
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaa";
    const B: &str = "bbbb";

    #[test]
    fn only_entries_iohost_wrote_for_that_handler_come_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = CodeCache::open(dir.path());
        assert!(cache.key.is_some(), "a fresh key");
        assert_eq!(cache.get(A, 1), None, "nothing yet");
        cache.put(A, 1, b"code of a");
        cache.put(B, 1, b"code of b");
        assert_eq!(cache.get(A, 1).as_deref(), Some(&b"code of a"[..]));
        assert_eq!(cache.get(A, 2), None, "another compiler");

        // One handler's entry copied to the other's name is refused.
        std::fs::copy(cache.path(A, 1), cache.path(B, 1)).expect("copy");
        assert_eq!(cache.get(B, 1), None, "a copied entry");
        // Changed, cut short, or made by hand: refused.
        let mut entry = std::fs::read(cache.path(A, 1)).expect("read");
        *entry.last_mut().expect("code") ^= 1;
        std::fs::write(cache.path(A, 1), &entry).expect("write");
        assert_eq!(cache.get(A, 1), None, "a changed byte");
        std::fs::write(cache.path(A, 1), &entry[..20]).expect("write");
        assert_eq!(cache.get(A, 1), None, "cut short");
        std::fs::write(cache.path(A, 1), b"\0asm native code").expect("write");
        assert_eq!(cache.get(A, 1), None, "not an entry");

        // A second process on the same folder reads the same key.
        let again = CodeCache::open(dir.path());
        again.put(A, 1, b"code of a");
        assert_eq!(cache.get(A, 1).as_deref(), Some(&b"code of a"[..]));
        // An entry under another key (another iohost, or one that read no key) is refused.
        let other = tempfile::tempdir().expect("tmp");
        let foreign = CodeCache::open(other.path());
        foreign.put(A, 1, b"evil");
        std::fs::copy(foreign.path(A, 1), cache.path(A, 1)).expect("copy");
        assert_eq!(cache.get(A, 1), None, "a foreign key's entry");
    }

    #[test]
    fn a_key_others_may_read_or_replace_turns_the_cache_off() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = dir.path().join(KEY_FILE);
        std::fs::write(&key, [7u8; TAG_BYTES]).expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            open_key(dir.path()),
            Err(CacheError::UnsafeKey { .. })
        ));
        let cache = CodeCache::open(dir.path());
        cache.put(A, 1, b"code");
        assert_eq!(cache.get(A, 1), None, "off: nothing stored, nothing read");
        assert!(!cache.path(A, 1).exists());

        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(open_key(dir.path()).expect("private now"), [7u8; TAG_BYTES]);
        std::fs::write(&key, [7u8; 5]).expect("short key");
        assert!(open_key(dir.path()).is_err(), "a key of the wrong length");
        std::fs::remove_file(&key).expect("rm");
        std::os::unix::fs::symlink("/dev/zero", &key).expect("link");
        assert!(open_key(dir.path()).is_err(), "a link");
    }
}
