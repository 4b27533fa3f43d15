//! Random ids and secrets, from the operating system's generator.

use std::io::Read;

/// `bytes` random bytes from `/dev/urandom`, as lower-case hex.
pub fn hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf)?;
    Ok(::hex::encode(buf))
}

/// Fills `buf` with random bytes from `/dev/urandom`.
pub fn fill(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}
