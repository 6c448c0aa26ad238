//! TLS for every client in the bot (Slack, GitHub, Google): rustls with ring,
//! and one trust store for the whole process, read from the system on the
//! first handshake rather than at start-up.
//!
//! Reading the system's CA certificates takes milliseconds (with
//! `SSL_CERT_DIR` set, a file per certificate), which a process that starts
//! on a request at zero instances pays as latency. Most requests never open a
//! TLS connection (the bench's dry run, a refusal), and those that do share the
//! store once it is read.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, OnceLock};

/// With no provider chosen, the first TLS connection panics, so each entry
/// point installs ring once before making any client.
pub fn install() {
    // Already installed (a second entry point in the same process) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client configuration whose trust store is read on its first handshake.
/// `alpn` is what the client offers (`h2`, `http/1.1`); hyper-rustls sets its
/// own and wants it empty.
pub fn client_config(alpn: &[&[u8]]) -> ClientConfig {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SystemRoots { provider }))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The system's trust store, read once (the first handshake of any client).
/// A store that cannot be read fails every handshake with the reason, as
/// building a client would have at start-up.
fn system_verifier(provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, String> {
    static VERIFIER: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "none in the system's store".into());
                return Err(format!(
                    "no trusted CA certificates found ({why}); install the ca-certificates package"
                ));
            }
            tracing::debug!(added, "read the system's CA certificates");
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// WebPKI against the system's roots, as rustls' own verifier, only loaded late.
#[derive(Debug)]
struct SystemRoots {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        system_verifier(&self.provider)
            .map_err(rustls::Error::General)?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trust_store_is_read_on_the_first_handshake_and_judges_certificates() {
        install();
        let config = client_config(&[b"h2", b"http/1.1"]);
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let verifier = SystemRoots {
            provider: provider(),
        };
        // Not a certificate: refused (by the store, or, on a machine with no
        // CA certificates, with the reason), never a panic and never trusted.
        let refused = verifier.verify_server_cert(
            &CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]),
            &[],
            &ServerName::try_from("slack.com").unwrap(),
            &[],
            UnixTime::now(),
        );
        assert!(refused.is_err(), "{refused:?}");
        assert!(!verifier.supported_verify_schemes().is_empty());
    }
}
