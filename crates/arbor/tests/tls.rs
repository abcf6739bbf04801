//! TLS and mutual TLS against the real binary, with a CA and certificates made at test time
//! (rcgen): every listener answers over TLS to a client that trusts the test CA and
//! refuses plain HTTP; a client certificate named in `[[tls.clients]]` writes without a
//! token (OTLP/HTTP and OTLP/gRPC) and its spans are readable, while no certificate gets
//! 401 and a certificate from another CA fails the handshake; replaced certificate files
//! are served to new connections (a broken replacement keeps the old one); a client that
//! stalls in the handshake is dropped; bad files stop the start with the file named.
//!
//! Every client here trusts the test CA explicitly; none turns verification off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arbor_model::otlp::grpc::TraceServiceClient;
use arbor_testkit::{TestServer, eventually, spans};
use prost::Message;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

/// A CA that signs server and client certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    fn leaf(&self, cn: &str, sans: &[&str], purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let mut p =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![purpose];
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    fn server(&self, cn: &str) -> Leaf {
        self.leaf(
            cn,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate whose common name is `cn`.
    fn client(&self, cn: &str) -> Leaf {
        self.leaf(cn, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// The files of a server's TLS settings, in a directory of their own.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        // Through a rename, so the server never reads half a file.
        let tmp = self.path(&format!("{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        p
    }
    fn server(&self, leaf: &Leaf) {
        self.write("server.crt", &leaf.cert);
        self.write("server.key", &leaf.key);
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A server with TLS on every listener (and the extra flags).
fn start_tls(files: &Files, extra: &[&str]) -> TestServer {
    let cert = files.path("server.crt");
    let key = files.path("server.key");
    let mut args = vec!["--tls-cert-file", arg(&cert), "--tls-key-file", arg(&key)];
    args.extend_from_slice(extra);
    TestServer::start(BIN, &args).unwrap()
}

/// An HTTPS client trusting the CA only (and presenting `identity` when given).
fn https(ca: &Ca, identity: Option<&Leaf>) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(60));
    if let Some(l) = identity {
        let pem = format!("{}{}", l.cert, l.key);
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn plain() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A batch of two spans of a new trace (its ID in hex).
fn batch(seed: u64) -> (String, Vec<u8>) {
    let mut rng = spans::rng(seed);
    let trace = spans::trace_id(&mut rng);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let b = spans::batch(
        "tls-test",
        spans::chain(&mut rng, trace, 2, now - 1_000_000_000),
    );
    (hex::encode(trace), b.encode_to_vec())
}

fn post_otlp(
    client: &reqwest::blocking::Client,
    url: &str,
    body: Vec<u8>,
    token: Option<&str>,
) -> reqwest::Result<(u16, String)> {
    let mut req = client
        .post(format!("{url}/v1/traces"))
        .header("Content-Type", "application/x-protobuf")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send()?;
    let status = resp.status().as_u16();
    Ok((status, String::from_utf8_lossy(&resp.bytes()?).into_owned()))
}

/// The number of spans of a trace the HTTP API answers with.
fn spans_of(
    client: &reqwest::blocking::Client,
    http: &str,
    trace: &str,
    token: Option<&str>,
) -> usize {
    let mut req = client.get(format!("https://{http}/api/traces/{trace}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    if resp.status() != 200 {
        return 0;
    }
    let v: serde_json::Value = resp.json().unwrap();
    v["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["scopeSpans"].as_array().into_iter().flatten())
        .map(|s| s["spans"].as_array().map_or(0, Vec::len))
        .sum()
}

/// An OTLP/gRPC export over TLS trusting `ca`, with an optional client certificate and
/// token.
fn grpc_export_tls(
    addr: &str,
    ca: &Ca,
    identity: Option<&Leaf>,
    token: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca.pem))
            .domain_name("localhost");
        if let Some(l) = identity {
            tls = tls.identity(Identity::from_pem(&l.cert, &l.key));
        }
        let channel = Channel::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .map_err(|e| format!("tls config: {e}"))?
            .connect()
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        let mut client = TraceServiceClient::new(channel);
        let req = arbor_model::otlp::ExportTraceServiceRequest::decode(body).unwrap();
        let mut r = tonic::Request::new(req);
        if let Some(t) = token {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        client
            .export(r)
            .await
            .map(|_| ())
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
    })
}

/// An OTLP/gRPC export over plain HTTP/2.
fn grpc_export_plain(addr: &str, body: &[u8]) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://{addr}"))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let req = arbor_model::otlp::ExportTraceServiceRequest::decode(body).unwrap();
        client
            .export(req)
            .await
            .map(|_| ())
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
    })
}

#[test]
fn every_listener_speaks_tls_and_refuses_plain_http() {
    let ca = Ca::new("arbor test CA");
    let files = Files::new();
    files.server(&ca.server("arbor"));
    let server = start_tls(&files, &[]);
    let a = server.addrs.clone();
    let tls = https(&ca, None);

    for (what, url) in [
        ("http", format!("{}/ready", a.http)),
        ("jaeger", format!("{}/api/services", a.jaeger)),
        ("zipkin", format!("{}/api/v2/services", a.zipkin)),
    ] {
        let resp = tls.get(format!("https://{url}")).send();
        let resp = resp.unwrap_or_else(|e| panic!("{what} over TLS: {e:?}\n{}", server.log()));
        assert!(resp.status().is_success(), "{what}: {}", resp.status());
        let plain_err = plain().get(format!("http://{url}")).send();
        assert!(
            plain_err.is_err(),
            "{what} answered plain HTTP: {:?}",
            plain_err.map(|r| r.status())
        );
    }

    // Ingest over TLS, on both OTLP listeners; read back over TLS.
    let (trace, body) = batch(1);
    let (status, text) = post_otlp(
        &tls,
        &format!("https://{}", a.otlp_http),
        body.clone(),
        None,
    )
    .unwrap_or_else(|e| panic!("OTLP/HTTP over TLS: {e:?}"));
    assert_eq!(status, 200, "{text}");
    assert!(
        post_otlp(&plain(), &format!("http://{}", a.otlp_http), body, None).is_err(),
        "OTLP/HTTP answered plain HTTP"
    );
    assert!(eventually(Duration::from_secs(30), || {
        spans_of(&tls, &a.http, &trace, None) == 2
    }));

    let (trace, body) = batch(2);
    grpc_export_tls(&a.otlp_grpc, &ca, None, None, &body)
        .unwrap_or_else(|e| panic!("OTLP/gRPC over TLS: {e}\n{}", server.log()));
    assert!(eventually(Duration::from_secs(30), || {
        spans_of(&tls, &a.http, &trace, None) == 2
    }));
    let plain_grpc = grpc_export_plain(&a.otlp_grpc, &body);
    assert!(plain_grpc.is_err(), "OTLP/gRPC answered plain HTTP/2");

    // A client that does not trust the CA is refused by its own check: the certificate
    // really is the test CA's.
    let untrusting = https(&Ca::new("another CA"), None);
    let err = untrusting
        .get(format!("https://{}/ready", a.http))
        .send()
        .unwrap_err();
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "{err:?}"
    );
}

/// A config file with `[tls]`, client certificates and a token file.
fn mtls_config(files: &Files, tokens: &Path) -> PathBuf {
    let text = format!(
        "[auth]\ntokens_file = {tokens:?}\n\n[tls]\ncert_file = {:?}\nkey_file = {:?}\n\
         client_ca_file = {:?}\n\n[[tls.clients]]\nsubject = \"collector.shop.example\"\n\
         name = \"shop collector\"\ntenants = [\"shop\"]\n",
        files.path("server.crt"),
        files.path("server.key"),
        files.path("clients.crt"),
    );
    files.write("arbor.toml", &text)
}

/// A token minted by `arbor token`: (token, file entry).
fn mint(name: &str, tenants: &str, grants: &str) -> (String, String) {
    arbor_testkit::mint_token(
        BIN,
        &["--name", name, "--tenant", tenants, "--grant", grants],
    )
}

#[test]
fn a_client_certificate_writes_without_a_token() {
    let ca = Ca::new("arbor server CA");
    let client_ca = Ca::new("arbor clients CA");
    let files = Files::new();
    files.server(&ca.server("arbor"));
    files.write("clients.crt", &client_ca.pem);
    let (reader, entry) = mint("shop reader", "shop", "read");
    let tokens = files.write("tokens.toml", &entry);
    let config = mtls_config(&files, &tokens);
    let server = TestServer::start(BIN, &["--config", arg(&config)]).unwrap();
    let a = server.addrs.clone();
    let collector = client_ca.client("collector.shop.example");
    let otlp = format!("https://{}", a.otlp_http);

    // A good certificate and no token: accepted, and the spans are the shop's.
    let (trace, body) = batch(3);
    let (status, text) = post_otlp(&https(&ca, Some(&collector)), &otlp, body, None).unwrap();
    assert_eq!(status, 200, "{text}\n{}", server.log());
    let reading = https(&ca, None);
    assert!(
        eventually(Duration::from_secs(30), || {
            spans_of(&reading, &a.http, &trace, Some(&reader)) == 2
        }),
        "{}",
        server.log()
    );
    let (grpc_trace, body) = batch(4);
    grpc_export_tls(&a.otlp_grpc, &ca, Some(&collector), None, &body)
        .unwrap_or_else(|e| panic!("OTLP/gRPC with a client certificate: {e}"));
    assert!(eventually(Duration::from_secs(30), || {
        spans_of(&reading, &a.http, &grpc_trace, Some(&reader)) == 2
    }));

    // No certificate, no token: 401 (HTTP) and UNAUTHENTICATED (gRPC).
    let (_, body) = batch(5);
    let (status, _) = post_otlp(&https(&ca, None), &otlp, body.clone(), None).unwrap();
    assert_eq!(status, 401);
    let err = grpc_export_tls(&a.otlp_grpc, &ca, None, None, &body).unwrap_err();
    assert!(err.starts_with("Unauthenticated"), "{err}");

    // A certificate of the right CA that no [[tls.clients]] entry names: 401.
    let stranger = client_ca.client("stranger.example");
    let (status, _) = post_otlp(&https(&ca, Some(&stranger)), &otlp, body.clone(), None).unwrap();
    assert_eq!(status, 401);

    // A certificate with the right name from another CA: the handshake fails.
    let forged = Ca::new("someone else's CA").client("collector.shop.example");
    let refused = post_otlp(&https(&ca, Some(&forged)), &otlp, body.clone(), None);
    assert!(refused.is_err(), "accepted: {refused:?}");
    let refused = grpc_export_tls(&a.otlp_grpc, &ca, Some(&forged), None, &body);
    assert!(refused.is_err(), "accepted over gRPC");

    // The certificate writes only, and only for its tenants.
    let (status, text) = {
        let resp = https(&ca, Some(&collector))
            .post(format!("{otlp}/v1/traces"))
            .header("Content-Type", "application/x-protobuf")
            .header("X-Scope-OrgID", "other")
            .body(body.clone())
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("shop collector"),
        "named like a token: {text}"
    );
    // The HTTP listener never asks for a client certificate: reading needs a token.
    let resp = https(&ca, Some(&collector))
        .get(format!("https://{}/api/search", a.http))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 401);
    // A token still works on the ingest listeners without a certificate.
    let (w, entry2) = mint("shop writer", "shop", "write");
    files.write("tokens.toml", &format!("{entry}{entry2}"));
    assert!(eventually(Duration::from_secs(30), || {
        post_otlp(&https(&ca, None), &otlp, body.clone(), Some(&w)).is_ok_and(|(s, _)| s == 200)
    }));
}

/// The first certificate the server presents on a new connection to `addr`, as DER.
fn presented_certificate(addr: &str, ca: &Ca) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    let certs = conn.peer_certificates().ok_or("no certificate")?;
    Ok(certs[0].as_ref().to_vec())
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn replaced_certificate_files_are_served_to_new_connections() {
    let ca = Ca::new("arbor test CA");
    let files = Files::new();
    let first = ca.server("arbor first");
    files.server(&first);
    let mut server = start_tls(&files, &[]);
    let addr = server.addrs.http.clone();
    assert_eq!(
        presented_certificate(&addr, &ca).unwrap(),
        der_of(&first.cert)
    );

    let second = ca.server("arbor second");
    files.server(&second);
    assert!(
        eventually(Duration::from_secs(30), || {
            presented_certificate(&addr, &ca).ok() == Some(der_of(&second.cert))
        }),
        "the new certificate was never served:\n{}",
        server.log()
    );
    // Every listener takes it, not only the one asked first.
    let otlp = server.addrs.otlp_http.clone();
    assert_eq!(
        presented_certificate(&otlp, &ca).unwrap(),
        der_of(&second.cert)
    );

    // A broken replacement: the certificate in force stays, and the log says why.
    let complaints = || server.log().matches("does not read").count();
    let before = complaints();
    files.write("server.key", "not a key\n");
    assert!(
        eventually(Duration::from_secs(30), || complaints() > before),
        "{}",
        server.log()
    );
    assert_eq!(
        presented_certificate(&addr, &ca).unwrap(),
        der_of(&second.cert)
    );
    let log = server.log();
    assert!(log.contains("server.key"), "the file is named: {log}");
    let _ = server.stop();
}

#[test]
fn a_client_stalled_in_the_handshake_is_dropped() {
    let ca = Ca::new("arbor test CA");
    let files = Files::new();
    files.server(&ca.server("arbor"));
    let server = start_tls(&files, &["--header-read-timeout", "1s"]);
    for addr in [&server.addrs.http, &server.addrs.otlp_grpc] {
        let mut tcp = TcpStream::connect(addr).unwrap();
        // The first bytes of a ClientHello record, then nothing.
        tcp.write_all(&[0x16, 0x03, 0x01]).unwrap();
        // A bound against a hang, not a measure of speed.
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut buf = [0u8; 64];
        let n = tcp.read(&mut buf);
        assert!(
            matches!(n, Ok(0))
                || matches!(&n, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{addr}: the server kept a stalled handshake open: {n:?}"
        );
    }
    // The listener still serves others.
    let resp = https(&ca, None)
        .get(format!("https://{}/ready", server.addrs.http))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
}

#[test]
fn bad_tls_files_stop_the_start_with_the_file_named() {
    let ca = Ca::new("arbor test CA");
    let files = Files::new();
    let good = ca.server("arbor");
    let other = ca.server("other");
    let missing = files.path("missing.crt");
    for (cert, key, says) in [
        (
            "not pem at all\n".to_string(),
            good.key.clone(),
            "holds no certificate",
        ),
        (
            good.cert.clone(),
            "garbage\n".to_string(),
            "holds no private key",
        ),
        (good.cert.clone(), other.key.clone(), "does not go with"),
    ] {
        files.write("server.crt", &cert);
        files.write("server.key", &key);
        let err = match TestServer::start(
            BIN,
            &[
                "--tls-cert-file",
                arg(&files.path("server.crt")),
                "--tls-key-file",
                arg(&files.path("server.key")),
            ],
        ) {
            Ok(_) => panic!("started with bad TLS files ({says})"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(says), "{says}: {err}");
        assert!(err.contains("server."), "the file is named: {err}");
    }
    let err = match TestServer::start(
        BIN,
        &[
            "--tls-cert-file",
            arg(&missing),
            "--tls-key-file",
            arg(&files.path("server.key")),
        ],
    ) {
        Ok(_) => panic!("started with a missing certificate file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("missing.crt"), "{err}");
    let err = match TestServer::start(BIN, &["--tls-cert-file", arg(&missing)]) {
        Ok(_) => panic!("started with a certificate and no key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("tls.key_file"), "{err}");
}
