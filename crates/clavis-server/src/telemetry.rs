//! Log output: JSON lines (default, with the request id of the enclosing request span) or
//! human-readable text.

use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Install the global subscriber for the binary (tests do not call this). `level` has been
/// validated by `Config::load`.
pub fn init_tracing(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
