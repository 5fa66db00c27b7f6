//! The master key: from `master_key` (environment) or a file; generated on first start
//! with mode 0600 when neither exists. A key file readable by others is refused.

use clavis_crypto::MasterKey;
use clavis_types::Rng;
use std::io::Write;

use crate::{Config, ConfigError, ServerError};

pub(crate) fn load_or_create(cfg: &Config, rng: &dyn Rng) -> Result<MasterKey, ServerError> {
    if let Some(b64) = &cfg.master_key {
        return MasterKey::from_base64(b64).map_err(|e| {
            ConfigError::Invalid {
                key: "master_key",
                reason: e.to_string(),
            }
            .into()
        });
    }
    let path = cfg.master_key_path();
    match std::fs::read_to_string(&path) {
        Ok(contents) => {
            check_permissions(&path)?;
            MasterKey::from_base64(&contents).map_err(|e| {
                ConfigError::Invalid {
                    key: "master_key_file",
                    reason: format!("{}: {e}", path.display()),
                }
                .into()
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate(rng);
            write_new(&path, &key.to_base64())?;
            tracing::info!(path = %path.display(), "generated a new master key; back it up: without it the secrets in this database cannot be read");
            Ok(key)
        }
        Err(source) => Err(ServerError::Io {
            what: format!("cannot read master key file {}", path.display()),
            source,
        }),
    }
}

/// Load the configured master key; never create one.
pub(crate) fn load_existing(cfg: &Config) -> Result<MasterKey, ServerError> {
    if cfg.master_key.is_none() && !cfg.master_key_path().exists() {
        return Err(ConfigError::Invalid {
            key: "master_key_file",
            reason: format!("{} does not exist", cfg.master_key_path().display()),
        }
        .into());
    }
    load_or_create(cfg, &clavis_crypto::SystemRng::new())
}

fn write_new(path: &std::path::Path, contents: &str) -> Result<(), ServerError> {
    let io = |source| ServerError::Io {
        what: format!("cannot create master key file {}", path.display()),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

fn check_permissions(path: &std::path::Path) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| ServerError::Io {
                what: format!("cannot stat {}", path.display()),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError::Invalid {
                key: "master_key_file",
                reason: format!(
                    "{} is accessible by other users (mode {:o}); run `chmod 600 {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_with_0600_then_reused_and_loose_permissions_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let rng = clavis_crypto::SystemRng::new();
        let k1 = load_or_create(&cfg, &rng).unwrap();
        let path = cfg.master_key_path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let k2 = load_or_create(&cfg, &rng).unwrap();
        assert_eq!(k1.to_base64(), k2.to_base64());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create(&cfg, &rng).err().unwrap().to_string();
        assert!(
            e.contains("master_key_file") && e.contains("chmod 600"),
            "{e}"
        );
    }

    #[test]
    fn bad_env_key_names_the_key() {
        let cfg = Config {
            master_key: Some("too-short".into()),
            ..Config::default()
        };
        let e = load_or_create(&cfg, &clavis_crypto::SystemRng::new())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("master_key") && e.contains("32 bytes"), "{e}");
    }
}
