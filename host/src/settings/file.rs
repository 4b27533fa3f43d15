//! Settings in a JSON file, replaced atomically: written to a temporary file beside it, flushed
//! to disk, renamed over the old one, and the folder flushed too.

use std::io::Write;
use std::path::PathBuf;

use super::{Settings, SettingsError, SettingsStore};

#[derive(Debug)]
pub struct FileSettings {
    path: PathBuf,
}

impl FileSettings {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn write(&self, text: &[u8]) -> std::io::Result<()> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(&dir)?.sync_all()
    }
}

#[async_trait::async_trait]
impl SettingsStore for FileSettings {
    async fn load(&self) -> Result<Settings, SettingsError> {
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: self.shown(),
                    source,
                });
            }
        };
        serde_json::from_str(&text).map_err(|e| SettingsError::Invalid {
            path: self.shown(),
            reason: e.to_string(),
        })
    }

    async fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        let text = serde_json::to_vec_pretty(settings).map_err(|e| SettingsError::Invalid {
            path: self.shown(),
            reason: e.to_string(),
        })?;
        let this = FileSettings::new(self.path.clone());
        tokio::task::spawn_blocking(move || this.write(&text))
            .await
            .map_err(|e| SettingsError::Write {
                path: self.shown(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| SettingsError::Write {
                path: self.shown(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saves_atomically_and_reads_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = FileSettings::new(dir.path().join("nested/settings.json"));
        assert_eq!(store.load().await.expect("empty"), Settings::default());
        let mut settings = Settings::default();
        settings.disabled_handlers.insert("presence".into());
        settings.cors_origins = Some(vec!["https://app.example".into()]);
        store.save(&settings).await.expect("save");
        assert_eq!(store.load().await.expect("load"), settings);
        assert!(!dir.path().join("nested/settings.json.tmp").exists());
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("settings.json");
        std::fs::write(&path, "{not json").expect("write");
        let err = FileSettings::new(path).load().await.expect_err("corrupt");
        assert!(err.to_string().contains("settings.json"), "{err}");
    }
}
