//! Configuration: defaults, then `clavis.toml` (or `--config FILE`), then `CLAVIS_*`
//! environment variables. A wrong value is reported naming the key and what is expected.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Everything `clavis serve` can be told. `Debug` redacts the master key and any password
/// in the database URL.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite file and the generated master key.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `sqlite://{data_dir}/clavis.db`.
    pub database_url: Option<String>,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL clients use to reach Clavis; default: `http://{listen}`.
    pub public_url: Option<String>,
    /// The master key itself (base64 of 32 bytes), usually from `CLAVIS_MASTER_KEY`.
    pub master_key: Option<String>,
    /// File holding the master key; default: `{data_dir}/master.key`, created on first start.
    pub master_key_file: Option<PathBuf>,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `clavis=debug,sqlx=warn`.
    pub log_level: String,
    /// Seconds between signed checkpoints of every tenant's audit chain whose head moved
    /// (0 turns periodic checkpoints off; they can still be made on demand).
    pub audit_checkpoint_interval_secs: u64,
    /// Let audit sinks reach private addresses (RFC 1918, CGNAT, IPv6 unique-local), for a
    /// SIEM inside the same network. Loopback and link-local stay refused.
    pub audit_sinks_allow_private_networks: bool,
    /// SMTP server that delivers email: `smtp://USER:PASSWORD@HOST:587` (STARTTLS required),
    /// `smtps://USER:PASSWORD@HOST:465` (TLS from the first byte), or
    /// `smtp://HOST:25?tls=none` (unencrypted: loopback hosts only). Unset: messages are
    /// kept in the development outbox (state `stored`) and nothing is sent.
    pub smtp_url: Option<String>,
    /// The `From` of every email (`no-reply@example.com` or `Example <no-reply@example.com>`);
    /// required with `smtp_url`.
    pub email_from: Option<String>,
    /// Seconds each step of an SMTP exchange (connect, TLS, AUTH, each command) may take.
    pub smtp_timeout_secs: u64,
    /// Extra certificate authorities (PEM) trusted for the SMTP server's certificate,
    /// besides the platform's trust store (a private CA; tests).
    pub smtp_ca_file: Option<PathBuf>,
    /// How often the delivery worker looks for messages due, in milliseconds.
    pub smtp_poll_interval_ms: u64,
    /// Reverse proxies (IP addresses or CIDR blocks) whose `X-Forwarded-For` names the
    /// client: the right-most hop that is not one of them. Empty (the default): the socket
    /// peer is the client and `X-Forwarded-For` is ignored. `CLAVIS_TRUSTED_PROXIES` takes
    /// a comma-separated list.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
    /// A Redis shared by every node for the attack-protection request counters
    /// (`redis://[:PASSWORD@]HOST:6379[/DB]` or `rediss://…` for TLS). Unset: the database
    /// counts them. Lockouts always stay in the database.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key Clavis writes (several installations on one Redis).
    pub redis_key_prefix: String,
    /// Milliseconds one Redis command may take before the request counts in the database.
    pub redis_timeout_ms: u64,
    /// The nameserver (`IP:port`) asked for the TXT records proving ownership of custom
    /// domains; unset: the system resolver (`/etc/resolv.conf`).
    pub dns_nameserver: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "**redacted**"),
            )
            .field("master_key_file", &self.master_key_file)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field(
                "audit_checkpoint_interval_secs",
                &self.audit_checkpoint_interval_secs,
            )
            .field(
                "audit_sinks_allow_private_networks",
                &self.audit_sinks_allow_private_networks,
            )
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("email_from", &self.email_from)
            .field("smtp_timeout_secs", &self.smtp_timeout_secs)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("smtp_poll_interval_ms", &self.smtp_poll_interval_ms)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("redis_timeout_ms", &self.redis_timeout_ms)
            .field("dns_nameserver", &self.dns_nameserver)
            .finish()
    }
}

/// A URL with its password replaced by `**redacted**`. A value that does not parse as a
/// URL is not shown at all (it may still hold a password).
pub fn redact_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("**redacted**"));
            parsed.to_string()
        }
        Ok(_) => u.to_owned(),
        Err(_) => "**unparsable, redacted**".to_owned(),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("clavis-data"),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            master_key: None,
            master_key_file: None,
            log_format: LogFormat::Json,
            log_level: "info".to_owned(),
            audit_checkpoint_interval_secs: 3600,
            audit_sinks_allow_private_networks: false,
            smtp_url: None,
            email_from: None,
            smtp_timeout_secs: 30,
            smtp_ca_file: None,
            smtp_poll_interval_ms: 2000,
            trusted_proxies: Vec::new(),
            redis_url: None,
            redis_key_prefix: "clavis:".to_owned(),
            redis_timeout_ms: 500,
            dns_nameserver: None,
        }
    }
}

const KEYS: &[&str] = &[
    "audit_checkpoint_interval_secs",
    "audit_sinks_allow_private_networks",
    "data_dir",
    "database_url",
    "listen",
    "public_url",
    "master_key",
    "master_key_file",
    "log_format",
    "log_level",
    "smtp_url",
    "email_from",
    "smtp_timeout_secs",
    "smtp_ca_file",
    "smtp_poll_interval_ms",
    "trusted_proxies",
    "redis_url",
    "redis_key_prefix",
    "redis_timeout_ms",
    "dns_nameserver",
];

/// A configuration that cannot be used, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl Config {
    /// Load from defaults, an optional TOML file (default `clavis.toml` if present) and the
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Parse(format!(
                        "configuration file {} does not exist",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file_exact(path));
            }
            None => fig = fig.merge(Toml::file("clavis.toml")),
        }
        fig = fig.merge(Env::prefixed("CLAVIS_").only(KEYS));
        let cfg: Config = fig
            .extract()
            .map_err(|e| ConfigError::Parse(describe(&e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(u) = &self.public_url {
            let parsed = url::Url::parse(u).map_err(|e| ConfigError::Invalid {
                key: "public_url",
                reason: format!(
                    "expected an absolute http(s) URL such as https://id.example.com ({e})"
                ),
            })?;
            let ok = matches!(parsed.scheme(), "http" | "https")
                && parsed.query().is_none()
                && parsed.fragment().is_none()
                && parsed.host().is_some();
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "public_url",
                    reason: "expected an http(s) URL with a host and no query or fragment"
                        .to_owned(),
                });
            }
        }
        if let Some(db) = &self.database_url {
            let ok = db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://");
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "database_url",
                    reason: "expected sqlite://PATH or postgres://USER@HOST/DB".to_owned(),
                });
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return Err(ConfigError::Invalid {
                key: "log_level",
                reason: format!("expected a filter such as `info` or `clavis=debug` ({e})"),
            });
        }
        crate::mail::SmtpSettings::from_config(self)?;
        self.trusted_proxies()?;
        self.dns_nameserver()?;
        self.validate_redis()
    }

    fn validate_redis(&self) -> Result<(), ConfigError> {
        if let Some(u) = &self.redis_url {
            // The parser's message is not repeated: it may quote the password.
            let ok = url::Url::parse(u).is_ok_and(|p| {
                matches!(p.scheme(), "redis" | "rediss")
                    && p.host_str().is_some_and(|h| !h.is_empty())
            });
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "redis_url",
                    reason: "expected redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://…"
                        .to_owned(),
                });
            }
        }
        let p = &self.redis_key_prefix;
        if p.len() > 64 || p.chars().any(|c| !(c.is_ascii_graphic())) {
            return Err(ConfigError::Invalid {
                key: "redis_key_prefix",
                reason: "expected at most 64 printable ASCII characters without spaces".to_owned(),
            });
        }
        if self.redis_timeout_ms == 0 || self.redis_timeout_ms > 60_000 {
            return Err(ConfigError::Invalid {
                key: "redis_timeout_ms",
                reason: "expected milliseconds between 1 and 60000".to_owned(),
            });
        }
        Ok(())
    }

    /// The parsed `dns_nameserver` (`None`: the system resolver).
    pub fn dns_nameserver(&self) -> Result<Option<SocketAddr>, ConfigError> {
        self.dns_nameserver
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<SocketAddr>().map_err(|_| ConfigError::Invalid {
                    key: "dns_nameserver",
                    reason: format!(
                        "`{}` is not IP:port; expected e.g. 127.0.0.1:53 or [2001:db8::53]:53",
                        s.chars().take(64).collect::<String>()
                    ),
                })
            })
            .transpose()
    }

    /// The parsed `trusted_proxies`.
    pub fn trusted_proxies(&self) -> Result<clavis_api::TrustedProxies, ConfigError> {
        clavis_api::TrustedProxies::parse(&self.trusted_proxies).map_err(|reason| {
            ConfigError::Invalid {
                key: "trusted_proxies",
                reason: format!(
                    "{reason}; expected IP addresses or CIDR blocks such as 10.0.0.0/8"
                ),
            }
        })
    }

    /// The database URL, defaulting to the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("clavis.db").display()))
    }

    /// The master-key file path.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The public URL, defaulting to the address actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None if bound.ip().is_unspecified() => format!("http://localhost:{}", bound.port()),
            None => format!("http://{bound}"),
        }
    }
}

/// A list of strings, or one string of comma-separated items (an environment variable).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(x) = seq.next_element::<String>()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// What a key expects, for error messages.
fn expected(key: &str) -> &'static str {
    match key {
        "listen" => "; expected HOST:PORT such as 127.0.0.1:8080",
        "data_dir" | "master_key_file" => "; expected a path",
        "log_format" => "; expected `json` or `pretty`",
        "log_level" => "; expected a filter such as `info` or `clavis=debug`",
        "smtp_url" => "; expected smtp://USER:PASSWORD@HOST:587 or smtps://USER:PASSWORD@HOST:465",
        "smtp_timeout_secs" | "smtp_poll_interval_ms" => "; expected a positive whole number",
        "smtp_ca_file" => "; expected a path",
        "trusted_proxies" => "; expected a list of IP addresses or CIDR blocks",
        "redis_url" => "; expected redis://HOST:6379 or rediss://HOST:6380",
        "redis_timeout_ms" => "; expected a positive whole number",
        "dns_nameserver" => "; expected IP:port such as 127.0.0.1:53",
        _ => "",
    }
}

/// Each of figment's errors as "key `listen`: <what is wrong> (from <source>)".
fn describe(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|err| {
            let origin = err
                .metadata
                .as_ref()
                .map(|m| {
                    let key = err.path.join(".");
                    match &m.source {
                        Some(figment::Source::File(p)) => format!(" (in {})", p.display()),
                        _ if m.name.contains("environment") => {
                            format!(
                                " (from the CLAVIS_{} environment variable)",
                                key.to_uppercase()
                            )
                        }
                        _ => format!(" (from {})", m.name),
                    }
                })
                .unwrap_or_default();
            let key = err.path.join(".");
            if key.is_empty() {
                format!("{}{origin}", err.kind)
            } else {
                format!("key `{key}`: {}{origin}{}", err.kind, expected(&key))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)] // figment::Jail's signature
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        figment::Jail::expect_with(|_jail| {
            let c = Config::load(None).expect("defaults");
            assert_eq!(c.listen.port(), 8080);
            assert_eq!(c.database_url(), "sqlite://clavis-data/clavis.db");
            Ok(())
        });
    }

    #[test]
    fn env_overrides_file_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "clavis.toml",
                "listen = \"127.0.0.1:9000\"\nlog_format = \"pretty\"",
            )?;
            let c = Config::load(None).expect("file");
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.log_format, LogFormat::Pretty);
            jail.set_env("CLAVIS_LISTEN", "127.0.0.1:9100");
            assert_eq!(Config::load(None).expect("env").listen.port(), 9100);
            jail.set_env("CLAVIS_LISTEN", "not-an-address");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("listen") && e.contains("CLAVIS_LISTEN"), "{e}");
            jail.set_env("CLAVIS_LISTEN", "127.0.0.1:9100");
            jail.set_env("CLAVIS_LOG_FORMAT", "xml");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("log_format") && e.contains("json"), "{e}");
            jail.set_env("CLAVIS_LOG_FORMAT", "json");
            jail.set_env("CLAVIS_PUBLIC_URL", "ftp://x");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("public_url"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let c = Config {
            master_key: Some("c2VjcmV0LW1hc3Rlci1rZXktYmFzZTY0LTMyLWJ5dGVzIQ==".into()),
            database_url: Some("postgres://clavis:hunter2@db/clavis".into()),
            ..Config::default()
        };
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("c2VjcmV0"), "{d}");
        assert!(d.contains("**redacted**"));
    }

    #[test]
    fn smtp_keys_come_from_the_environment_and_plain_text_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLAVIS_SMTP_URL", "smtps://u:hunter2@mail.example.com");
            jail.set_env("CLAVIS_EMAIL_FROM", "Example <no-reply@example.com>");
            jail.set_env("CLAVIS_SMTP_TIMEOUT_SECS", "5");
            let c = Config::load(None).expect("smtp from the environment");
            assert_eq!(c.smtp_timeout_secs, 5);
            assert!(!format!("{c:?}").contains("hunter2"));
            jail.set_env(
                "CLAVIS_SMTP_URL",
                "smtp://u:hunter2@mail.example.com:25?tls=none",
            );
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("smtp_url") && e.contains("loopback"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
            jail.set_env("CLAVIS_SMTP_URL", "smtp://u:hunter2@localhost:25?tls=none");
            assert!(Config::load(None).is_ok());
            jail.set_env("CLAVIS_EMAIL_FROM", "");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("email_from"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn redis_keys_come_from_the_environment_are_checked_and_never_show_the_password() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).expect("defaults");
            assert_eq!(c.redis_url, None);
            assert_eq!(c.redis_key_prefix, "clavis:");
            jail.set_env(
                "CLAVIS_REDIS_URL",
                "rediss://:hunter2@cache.example.com:6380/2",
            );
            jail.set_env("CLAVIS_REDIS_KEY_PREFIX", "idp-eu:");
            jail.set_env("CLAVIS_REDIS_TIMEOUT_MS", "200");
            let c = Config::load(None).expect("redis from the environment");
            assert_eq!(c.redis_key_prefix, "idp-eu:");
            assert_eq!(c.redis_timeout_ms, 200);
            assert!(!format!("{c:?}").contains("hunter2"));
            for bad in [
                "http://:hunter2@cache.example.com",
                "redis//:hunter2@cache",
                "redis://:hunter2@",
            ] {
                jail.set_env("CLAVIS_REDIS_URL", bad);
                let e = Config::load(None).unwrap_err().to_string();
                assert!(e.contains("redis_url"), "{e}");
                assert!(!e.contains("hunter2"), "{e}");
            }
            jail.set_env("CLAVIS_REDIS_URL", "redis://127.0.0.1:6379");
            jail.set_env("CLAVIS_REDIS_KEY_PREFIX", "two words");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("redis_key_prefix"), "{e}");
            jail.set_env("CLAVIS_REDIS_KEY_PREFIX", "clavis:");
            jail.set_env("CLAVIS_REDIS_TIMEOUT_MS", "0");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("redis_timeout_ms"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn dns_nameserver_is_an_ip_and_port() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).expect("default");
            assert_eq!(c.dns_nameserver().expect("default"), None);
            jail.set_env("CLAVIS_DNS_NAMESERVER", "127.0.0.1:5353");
            let c = Config::load(None).expect("from the environment");
            assert_eq!(
                c.dns_nameserver().expect("parsed"),
                Some("127.0.0.1:5353".parse().unwrap())
            );
            jail.set_env("CLAVIS_DNS_NAMESERVER", "[2001:db8::53]:53");
            let c = Config::load(None).expect("ipv6");
            assert_eq!(
                c.dns_nameserver().expect("parsed"),
                Some("[2001:db8::53]:53".parse().unwrap())
            );
            for bad in ["127.0.0.1", "dns.example:53", "1.2.3.4:99999", "nonsense"] {
                jail.set_env("CLAVIS_DNS_NAMESERVER", bad);
                let e = Config::load(None).unwrap_err().to_string();
                assert!(
                    e.contains("`dns_nameserver`") && e.contains("IP:port"),
                    "{bad}: {e}"
                );
            }
            jail.clear_env();
            jail.create_file("clavis.toml", "dns_nameserver = \"10.0.0.53:53\"")?;
            let c = Config::load(None).expect("from the file");
            assert_eq!(
                c.dns_nameserver().expect("parsed"),
                Some("10.0.0.53:53".parse().unwrap())
            );
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_come_from_a_list_or_commas_and_are_checked() {
        figment::Jail::expect_with(|jail| {
            assert!(
                Config::load(None)
                    .expect("default")
                    .trusted_proxies
                    .is_empty()
            );
            jail.set_env("CLAVIS_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,");
            let c = Config::load(None).expect("from the environment");
            assert_eq!(c.trusted_proxies, ["10.0.0.0/8", "192.0.2.1"]);
            let t = c.trusted_proxies().expect("parsed");
            assert!(t.contains("10.9.8.7".parse().unwrap()));
            for one in ["127.0.0.1", "::1", "2001:db8::/32"] {
                jail.set_env("CLAVIS_TRUSTED_PROXIES", one);
                let c = Config::load(None).expect(one);
                assert_eq!(c.trusted_proxies, [one]);
            }
            jail.set_env("CLAVIS_TRUSTED_PROXIES", "10.0.0.1,proxy.example.com");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(
                e.contains("trusted_proxies") && e.contains("proxy.example.com"),
                "{e}"
            );
            jail.clear_env();
            jail.create_file(
                "clavis.toml",
                "trusted_proxies = [\"2001:db8::/32\", \"127.0.0.1\"]",
            )?;
            let c = Config::load(None).expect("from the file");
            assert_eq!(c.trusted_proxies, ["2001:db8::/32", "127.0.0.1"]);
            Ok(())
        });
    }

    #[test]
    fn a_bad_log_filter_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CLAVIS_LOG_LEVEL", "clavis=loud[");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("log_level"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("clavis.toml", "lisen = \"127.0.0.1:9000\"")?;
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("lisen"), "{e}");
            Ok(())
        });
    }
}
