//! HTTPS webhook receivers on the real binary: a CA and a server certificate are made at test
//! time, a local HTTPS receiver presents the server certificate, and a rule that fires at once
//! is delivered to a receiver that trusts the CA (`ca_file`) and to one that skips the check
//! (`insecure_skip_verify`), while a receiver without `ca_file` fails with a certificate error.
//! Bad receiver settings stop the start with the receiver and the file named.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_testkit::TestServer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

/// A CA (its PEM) and a certificate for 127.0.0.1 and localhost signed by it (DER, with its
/// key).
struct Certs {
    ca_pem: String,
    server_der: CertificateDer<'static>,
    server_key: PrivateKeyDer<'static>,
}

fn make_certs() -> Certs {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Arbor test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "arbor test receiver");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    Certs {
        ca_pem: ca_cert.pem(),
        server_der: leaf_cert.der().clone(),
        server_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
    }
}

/// One request the receiver took: its path, notification ID header and body.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    id: String,
    body: Value,
}

/// An HTTPS webhook receiver on 127.0.0.1 answering 200 to every POST.
struct HttpsReceiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    /// Connections whose TLS handshake failed, with the reason.
    refused: Arc<Mutex<Vec<String>>>,
}

impl HttpsReceiver {
    fn start(certs: &Certs) -> HttpsReceiver {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certs.server_der.clone()], certs.server_key.clone_key())
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let (g, r) = (got.clone(), refused.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (config, g, r) = (config.clone(), g.clone(), r.clone());
                std::thread::spawn(move || serve(conn, config, &g, &r));
            }
        });
        HttpsReceiver { port, got, refused }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn got(&self, path: &str) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.path == path)
            .cloned()
            .collect()
    }
}

fn serve(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    got: &Mutex<Vec<Got>>,
    refused: &Mutex<Vec<String>>,
) {
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut conn = rustls::ServerConnection::new(config).unwrap();
    let mut tcp = tcp;
    // The handshake first, so that a client refusing the certificate is seen as such.
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            refused.lock().unwrap().push(e.to_string());
            return;
        }
    }
    let mut reader = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    while let Some(req) = arbor_testkit::http::read_request(&mut reader) {
        got.lock().unwrap().push(Got {
            id: req.header("x-arbor-notification-id").to_string(),
            body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
            path: req.path,
        });
        let out = reader.get_mut();
        if out
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

fn wait_until(what: &str, secs: u64, server: &TestServer, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `arbor_alert_notifications_total{receiver, result}` on `/metrics` (0 when absent).
fn notifications(server: &TestServer, receiver: &str, result: &str) -> f64 {
    let text = server.get("/metrics").unwrap().text().unwrap();
    let prefix =
        format!("arbor_alert_notifications_total{{receiver=\"{receiver}\",result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// The error of the undelivered notification to `receiver` in the saved outbox.
fn outbox_error(server: &TestServer, receiver: &str) -> Option<String> {
    let path = server.data_dir().join("alerts/state.json");
    let state: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    state["outbox"]
        .as_array()?
        .iter()
        .find(|n| n["receiver"] == receiver)?["lastError"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn https_receivers_trust_their_ca_file_and_refuse_an_unknown_ca() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let certs = make_certs();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &certs.ca_pem).unwrap();
    let receiver = HttpsReceiver::start(&certs);
    let cfg = tmp.path().join("arbor.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[alerts]
interval = "1s"

[[alerts.receivers]]
name = "trusted"
url = {trusted:?}
ca_file = {ca:?}
timeout = "2s"

[[alerts.receivers]]
name = "untrusted"
url = {untrusted:?}
timeout = "2s"

[[alerts.receivers]]
name = "insecure"
url = {insecure:?}
insecure_skip_verify = true
timeout = "2s"
"#,
            trusted = receiver.url("/trusted"),
            untrusted = receiver.url("/untrusted"),
            insecure = receiver.url("/insecure"),
            ca = ca_file.to_str().unwrap(),
        ),
    )
    .unwrap();
    let server = TestServer::start_in(
        BIN,
        &tmp.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
        None,
    )
    .unwrap();

    // A rule that breaches at once: no spans match, and 0 is above -1.
    let client = reqwest::blocking::Client::new();
    let r = client
        .post(format!("{}/api/alerts/rules", server.http_url()))
        .json(&json!({
            "name": "always", "kind": "traceql", "query": "{ status = error }",
            "measure": "count", "window": "1m", "above": -1, "for": "0s",
            "severity": "critical", "labels": {"team": "shop"},
            "description": "{{name}} is {{value}} (threshold {{threshold}})"
        }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());

    // Delivered over HTTPS to the receiver that trusts the CA, in the documented format.
    wait_until("the firing notification over HTTPS", 20, &server, || {
        !receiver.got("/trusted").is_empty()
    });
    let firing = receiver.got("/trusted").remove(0);
    let body = &firing.body;
    assert_eq!(body["status"], "firing", "{body}");
    assert_eq!(body["rule"], "always");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["labels"]["alertname"], "always");
    assert_eq!(body["labels"]["severity"], "critical");
    assert_eq!(body["labels"]["team"], "shop");
    assert_eq!(body["value"], 0.0);
    assert_eq!(body["threshold"], -1.0);
    assert_eq!(body["description"], "always is 0 (threshold -1)", "{body}");
    assert!(body["startsAt"].as_str().unwrap().ends_with('Z'), "{body}");
    assert!(body["endsAt"].is_null());
    assert!(body["exampleTraces"].is_array());
    // The address the server is bound to (configured as port 0).
    assert_eq!(
        body["url"],
        format!("{}/alerts?rule=always", server.http_url()),
        "{body}"
    );
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("always/") && id.ends_with("/firing"), "{id}");
    assert_eq!(firing.id, id, "X-Arbor-Notification-Id is the body's id");

    // insecure_skip_verify: delivered without the CA.
    wait_until("the notification without a check", 10, &server, || {
        !receiver.got("/insecure").is_empty()
    });
    assert_eq!(receiver.got("/insecure")[0].body["id"], id);

    // No ca_file: the certificate is refused, the failure counted and its reason kept.
    wait_until("a failed delivery", 10, &server, || {
        notifications(&server, "untrusted", "failed") >= 1.0
            && outbox_error(&server, "untrusted").is_some()
    });
    let err = outbox_error(&server, "untrusted").unwrap();
    assert!(
        err.contains("invalid peer certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(err.contains("ca_file"), "the error says what to set: {err}");
    assert!(receiver.got("/untrusted").is_empty());
    assert!(
        !receiver.refused.lock().unwrap().is_empty(),
        "the receiver saw the refused handshake"
    );
    assert_eq!(notifications(&server, "trusted", "delivered"), 1.0);
    assert_eq!(notifications(&server, "trusted", "failed"), 0.0);

    // A test notification says the same per receiver.
    let v: Value = client
        .post(format!(
            "{}/api/alerts/rules/always/test",
            server.http_url()
        ))
        .header("Content-Type", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let delivery = |name: &str| {
        v["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["receiver"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no delivery to {name}: {v}"))
    };
    assert_eq!(delivery("trusted")["delivered"], true, "{v}");
    assert_eq!(delivery("insecure")["delivered"], true, "{v}");
    assert_eq!(delivery("untrusted")["delivered"], false, "{v}");
    assert!(
        delivery("untrusted")["error"]
            .as_str()
            .unwrap()
            .contains("UnknownIssuer"),
        "{v}"
    );
    assert!(
        receiver
            .got("/trusted")
            .iter()
            .any(|g| g.body["status"] == "test")
    );
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
}

/// Starts `arbor serve` with one receiver given by `receiver` (TOML lines); the error it
/// stops with.
fn start_error(tmp: &std::path::Path, receiver: &str) -> String {
    // A directory of its own: the server's log is kept beside its data directory.
    let dir = tempfile::tempdir_in(tmp).unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        format!("[[alerts.receivers]]\nname = \"hook\"\n{receiver}"),
    )
    .unwrap();
    match TestServer::start_in(
        BIN,
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
        None,
    ) {
        Ok(_) => panic!("arbor started with {receiver}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn bad_receiver_settings_stop_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.pem");
    let err = start_error(
        tmp.path(),
        &format!(
            "url = \"https://127.0.0.1:1/hook\"\nca_file = {:?}\n",
            missing.to_str().unwrap()
        ),
    );
    assert!(
        err.contains("alerts.receivers \"hook\"")
            && err.contains(missing.to_str().unwrap())
            && err.contains("cannot be read"),
        "{err}"
    );

    let not_pem = tmp.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let err = start_error(
        tmp.path(),
        &format!(
            "url = \"https://127.0.0.1:1/hook\"\nca_file = {:?}\n",
            not_pem.to_str().unwrap()
        ),
    );
    assert!(
        err.contains("alerts.receivers \"hook\"")
            && err.contains(not_pem.to_str().unwrap())
            && err.contains("no certificate"),
        "{err}"
    );

    // PEM armour around bytes that are not a certificate.
    let bad_der = tmp.path().join("bad-der.pem");
    std::fs::write(
        &bad_der,
        "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = start_error(
        tmp.path(),
        &format!(
            "url = \"https://127.0.0.1:1/hook\"\nca_file = {:?}\n",
            bad_der.to_str().unwrap()
        ),
    );
    assert!(
        err.contains("alerts.receivers \"hook\"") && err.contains(bad_der.to_str().unwrap()),
        "{err}"
    );

    let err = start_error(tmp.path(), "url = \"ftp://127.0.0.1/hook\"\n");
    assert!(
        err.contains("alerts.receivers \"hook\"") && err.contains("https://"),
        "{err}"
    );

    let err = start_error(
        tmp.path(),
        "url = \"http://127.0.0.1:1/hook\"\ninsecure_skip_verify = true\n",
    );
    assert!(
        err.contains("alerts.receivers \"hook\"") && err.contains("https:// url"),
        "{err}"
    );
}
