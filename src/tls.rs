//! The process-wide TLS provider. Every client in the bot (Slack, GitHub,
//! Google) uses rustls; with no provider chosen, the first TLS connection panics,
//! so each entry point installs ring once before making any client.

pub fn install() {
    // Already installed (a second entry point in the same process) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
