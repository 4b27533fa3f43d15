//! The HTTP client iohost talks to Strapi with: http or https (rustls with the ring provider;
//! certificates checked against the system's trusted roots plus `strapi.ca_file`), a timeout
//! per request.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use anyhow::Context;

static TLS: Once = Once::new();

/// A client for Strapi whose requests give up after `timeout`; `ca_file` (PEM) adds trusted
/// certificates, for a Strapi behind a private certificate authority.
pub fn client(timeout: Duration, ca_file: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    // rustls needs one crypto provider per process; iohost uses ring (no C toolchain beyond cc).
    TLS.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some(path) = ca_file.filter(|p| !p.as_os_str().is_empty()) {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read strapi.ca_file {}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!("strapi.ca_file {} is not PEM certificates", path.display())
        })?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder.build()?)
}

/// An error with its causes (`error sending request: ...: invalid peer certificate: ...`):
/// reqwest's own message leaves out why.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
