//! The `threadgate` binary as an operator meets it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_threadgate");

/// A bare HTTP/1.1 GET: enough for probes, no client library needed.
fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the server accepts connections");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    response
}

#[test]
fn dev_serves_on_embedded_defaults_and_stops_gracefully_on_sigterm() {
    let mut child = Command::new(BINARY)
        .args(["dev", "--listen", "127.0.0.1:0"])
        .env_remove("THREADGATE_DATABASE__URL")
        .env_remove("THREADGATE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready_line)
        .unwrap();
    let address = ready_line
        .trim()
        .strip_prefix("Threadgate (dev) is ready at http://")
        .unwrap_or_else(|| panic!("unexpected first line: {ready_line:?}"))
        .to_owned();

    let response = http_get(&address, "/readyz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"status":"ready"}"#), "{response}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "dev exited with {status} after SIGTERM");
}

#[test]
fn serve_without_a_database_url_names_the_missing_setting() {
    let output = Command::new(BINARY)
        .arg("serve")
        .env_remove("THREADGATE_DATABASE__URL")
        .env_remove("THREADGATE_CONFIG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("setting `database.url`: missing"),
        "{stderr}"
    );
    assert!(stderr.contains("THREADGATE_DATABASE__URL"), "{stderr}");
}

#[test]
fn a_malformed_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("threadgate.toml");
    std::fs::write(
        &file,
        "[database]\nurl = \"postgres://x\"\nmax_connections = \"many\"\n",
    )
    .unwrap();
    let output = Command::new(BINARY)
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .env_remove("THREADGATE_DATABASE__URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("setting `database.max_connections`"),
        "{stderr}"
    );
    assert!(stderr.contains("threadgate.toml"), "{stderr}");
}

#[test]
fn openapi_prints_the_document_of_the_router() {
    let output = Command::new(BINARY).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected = serde_json::to_value(api::openapi()).unwrap();
    assert_eq!(printed, expected);
    assert!(printed["paths"]["/readyz"]["get"].is_object());
}
