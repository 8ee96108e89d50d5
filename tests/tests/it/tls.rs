//! The functions' AWS calls trust Amazon Trust Services' roots, compiled in, and nothing else:
//! checked against a local HTTPS server whose certificate comes from a CA of the test's own.

use std::sync::Arc;

use aws_config::Region;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_smithy_http_client::tls::TrustStore;
use nami_handlers::aws::{AMAZON_TRUST_SERVICES_ROOTS, https_client, sdk_config_loader};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The five roots as Debian's ca-certificates names them (Mozilla's root store).
const SYSTEM_COPIES: [&str; 5] = [
    "Amazon_Root_CA_1",
    "Amazon_Root_CA_2",
    "Amazon_Root_CA_3",
    "Amazon_Root_CA_4",
    "Starfield_Services_Root_Certificate_Authority_-_G2",
];

#[test]
fn the_compiled_in_roots_are_the_five_of_amazon_trust_services() {
    let roots: Vec<CertificateDer<'_>> =
        CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<Result<_, _>>()
            .expect("the compiled-in roots are PEM certificates");
    assert_eq!(roots.len(), 5);
    for (root, name) in roots.iter().zip(SYSTEM_COPIES) {
        let system = std::fs::read(format!("/etc/ssl/certs/{name}.pem"))
            .unwrap_or_else(|error| panic!("Debian's copy of {name}: {error}"));
        let system = CertificateDer::from_pem_slice(&system).expect("a PEM certificate");
        assert_eq!(root, &system, "{name} differs from the system's copy");
    }
}

/// A CA of the test's own and a certificate it signed for `localhost`.
struct TestAuthority {
    ca_pem: String,
    server: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

fn test_authority() -> TestAuthority {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    TestAuthority {
        ca_pem: ca.pem(),
        server: (
            vec![server.der().clone()],
            PrivateKeyDer::try_from(server_key.serialize_der()).unwrap(),
        ),
    }
}

/// An HTTPS server on a free loopback port answering every request with SQS's JSON error
/// `InvalidAddress`: a client that gets that far trusted the server's certificate.
async fn https_server(authority: &TestAuthority) -> u16 {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(authority.server.0.clone(), authority.server.1.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body =
                    r#"{"__type":"com.amazonaws.sqs#InvalidAddress","message":"the test server"}"#;
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
                     x-amzn-query-error: InvalidAddress;Sender\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

async fn send_through(loader: aws_config::ConfigLoader, port: u16) -> String {
    let config = loader
        .endpoint_url(format!("https://localhost:{port}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("t", "t", None, None, "tls-test"))
        .load()
        .await;
    let error = aws_sdk_sqs::Client::new(&config)
        .send_message()
        .queue_url(format!("https://localhost:{port}/123456789012/q"))
        .message_body("{}")
        .send()
        .await
        .expect_err("the test server answers every request with an error");
    DisplayErrorContext(&error).to_string()
}

#[tokio::test]
async fn aws_calls_refuse_a_server_outside_the_compiled_in_roots() {
    let authority = test_authority();
    let port = https_server(&authority).await;

    let refused = send_through(sdk_config_loader(), port).await;
    assert!(
        refused.contains("UnknownIssuer") && !refused.contains("InvalidAddress"),
        "a certificate from another CA is refused at the handshake: {refused}"
    );

    // The same client, trusting the test's CA instead, reaches the server.
    let trusted = TrustStore::empty().with_pem_certificate(authority.ca_pem.as_bytes());
    let answered = send_through(sdk_config_loader().http_client(https_client(trusted)), port).await;
    assert!(
        answered.contains("InvalidAddress"),
        "with the CA trusted, the request reaches the server and its answer comes back: {answered}"
    );
}
