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
use rustls_native_certs::CertificateResult;
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
    config_trusting(&SYSTEM, alpn)
}

fn config_trusting(roots: &'static Roots, alpn: &[&[u8]]) -> ClientConfig {
    let provider = provider();
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(LazyRoots { provider, roots }))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// A trust store read once, by the first handshake of any client holding it.
#[derive(Debug)]
struct Roots {
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
    load: fn() -> CertificateResult,
}

/// The system's: what `SSL_CERT_FILE` or `SSL_CERT_DIR` name, else the platform's store.
static SYSTEM: Roots = Roots {
    verifier: OnceLock::new(),
    load: rustls_native_certs::load_native_certs,
};

impl Roots {
    /// A store that cannot be read fails every handshake with the reason, as
    /// building a client would have at start-up.
    fn verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<WebPkiServerVerifier>, String> {
        self.verifier
            .get_or_init(|| {
                let found = (self.load)();
                let mut roots = rustls::RootCertStore::empty();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "none in the store".into());
                    return Err(format!(
                        "no trusted CA certificates found ({why}); install the ca-certificates package"
                    ));
                }
                tracing::debug!(added, "read the CA certificates");
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .clone()
    }
}

/// WebPKI against a lazily read store, as rustls' own verifier, only loaded late.
#[derive(Debug)]
struct LazyRoots {
    provider: Arc<CryptoProvider>,
    roots: &'static Roots,
}

impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.roots
            .verifier(&self.provider)
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
    //! Real handshakes, in memory, against certificates from
    //! tests/fixtures/tls (made by its make.sh): the lazy store must judge a
    //! chain exactly as rustls' own verifier would.
    use super::*;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    use rustls::sign::{CertifiedKey, SingleCertAndKey};
    use rustls::version::{TLS12, TLS13};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CA: &[u8] = include_bytes!("../tests/fixtures/tls/ca.pem");
    const LEAF: &[u8] = include_bytes!("../tests/fixtures/tls/leaf.pem");
    const LEAF_KEY: &[u8] = include_bytes!("../tests/fixtures/tls/leaf.key.pem");
    const STRANGER: &[u8] = include_bytes!("../tests/fixtures/tls/stranger-leaf.pem");
    const STRANGER_KEY: &[u8] = include_bytes!("../tests/fixtures/tls/stranger-leaf.key.pem");

    /// A server's certificate and the key it signs the handshake with, in PEM.
    type Presents = (&'static [u8], &'static [u8]);

    fn test_ca() -> CertificateResult {
        let mut found = CertificateResult::default();
        found.certs = vec![CertificateDer::from_pem_slice(CA).unwrap()];
        found
    }
    static TRUSTS_TEST_CA: Roots = Roots {
        verifier: OnceLock::new(),
        load: test_ca,
    };
    static EMPTY: Roots = Roots {
        verifier: OnceLock::new(),
        load: CertificateResult::default,
    };
    static LOADS: AtomicUsize = AtomicUsize::new(0);
    fn counted_test_ca() -> CertificateResult {
        LOADS.fetch_add(1, Ordering::SeqCst);
        test_ca()
    }
    static COUNTED: Roots = Roots {
        verifier: OnceLock::new(),
        load: counted_test_ca,
    };

    /// A server presenting `cert` at the given TLS version, a client built as
    /// the bot builds its clients but trusting `roots`, asking for `name`.
    /// Ok when the handshake succeeded and a byte went through.
    async fn handshake(
        roots: &'static Roots,
        (cert, key): Presents,
        version: &'static rustls::SupportedProtocolVersion,
        name: &str,
    ) -> Result<(), String> {
        install();
        // A resolver, not `with_single_cert`: that one refuses a key that is
        // not the certificate's, and a test needs a server that signs with one.
        let key = provider()
            .key_provider
            .load_private_key(PrivateKeyDer::from_pem_slice(key).unwrap())
            .unwrap();
        let presented = CertifiedKey::new(vec![CertificateDer::from_pem_slice(cert).unwrap()], key);
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(presented)));
        let client = tokio_rustls::TlsConnector::from(Arc::new(config_trusting(roots, &[])));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let name = ServerName::try_from(name.to_string()).unwrap();
        let served = tokio::spawn(async move {
            let mut tls = acceptor.accept(server_io).await.ok()?;
            tls.write_all(b"!").await.ok()?;
            tls.flush().await.ok()
        });
        let result = async {
            // Debug, not Display: it names the rustls error kind.
            let mut tls = client
                .connect(name, client_io)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
            assert_eq!(&byte, b"!");
            Ok(())
        }
        .await;
        drop(served.await);
        result
    }

    #[tokio::test]
    async fn a_chain_to_a_trusted_ca_for_the_right_name_is_accepted_at_tls_1_2_and_1_3() {
        for version in [&TLS12, &TLS13] {
            handshake(&TRUSTS_TEST_CA, (LEAF, LEAF_KEY), version, "slack.test")
                .await
                .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        }
    }

    #[tokio::test]
    async fn a_wrong_name_issuer_or_signature_and_an_empty_store_are_refused() {
        // (whose store, what the server presents, the name asked for, why refused)
        let cases: [(&'static Roots, Presents, &str, &str); 4] = [
            (
                &TRUSTS_TEST_CA,
                (LEAF, LEAF_KEY),
                "hooks.slack.com",
                "NotValidForName",
            ),
            (
                &TRUSTS_TEST_CA,
                (STRANGER, STRANGER_KEY),
                "slack.test",
                "UnknownIssuer",
            ),
            // A genuine certificate replayed by someone without its key.
            (
                &TRUSTS_TEST_CA,
                (LEAF, STRANGER_KEY),
                "slack.test",
                "BadSignature",
            ),
            (
                &EMPTY,
                (LEAF, LEAF_KEY),
                "slack.test",
                "no trusted CA certificates found",
            ),
        ];
        for version in [&TLS12, &TLS13] {
            for (roots, cert, name, why) in cases {
                let refused = handshake(roots, cert, version, name).await;
                assert!(
                    refused.as_ref().is_err_and(|e| e.contains(why)),
                    "{version:?} {name}: {refused:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_store_is_read_on_the_first_handshake_and_only_then() {
        let _client = config_trusting(&COUNTED, &[]);
        assert_eq!(
            LOADS.load(Ordering::SeqCst),
            0,
            "read when a client was built"
        );
        for version in [&TLS12, &TLS13] {
            handshake(&COUNTED, (LEAF, LEAF_KEY), version, "slack.test")
                .await
                .unwrap();
        }
        assert_eq!(LOADS.load(Ordering::SeqCst), 1, "read more than once");
    }

    #[test]
    fn clients_offer_the_alpn_they_are_given() {
        install();
        let config = client_config(&[b"h2", b"http/1.1"]);
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
