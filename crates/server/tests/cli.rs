//! The `threadgate` binary as an operator meets it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

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

/// A bare HTTP/1.1 GET with a bearer token.
fn http_get_as(address: &str, path: &str, token: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the server accepts connections");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    response
}

/// A bare HTTP/1.1 POST of a JSON body with a bearer token.
fn http_post_as(address: &str, path: &str, token: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the server accepts connections");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    response
}

#[test]
fn dev_runs_everything_a_newcomer_needs_and_stops_gracefully_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(BINARY)
        .args(["dev", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state.path())
        .env_remove("THREADGATE_DATABASE__URL")
        .env_remove("THREADGATE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready_line = String::new();
    stdout.read_line(&mut ready_line).unwrap();
    let address = ready_line
        .trim()
        .strip_prefix("Threadgate (dev) is ready at http://")
        .unwrap_or_else(|| panic!("unexpected first line: {ready_line:?}"))
        .to_owned();
    let mut banner = String::new();
    while !banner.contains("API documentation") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the banner ended early: {banner}"
        );
        banner.push_str(&line);
    }
    let token = banner
        .lines()
        .find_map(|line| line.trim().strip_prefix("export TOKEN="))
        .expect("the banner prints a token")
        .to_owned();

    let response = http_get(&address, "/readyz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let assistants = http_get_as(&address, "/v1/assistants", &token);
    assert!(assistants.starts_with("HTTP/1.1 200"), "{assistants}");
    assert!(assistants.contains("Demo assistant"), "{assistants}");
    // The printed example is the Responses API, and it answers.
    assert!(banner.contains("c.responses.create("), "{banner}");
    let answered = http_post_as(
        &address,
        "/v1/responses",
        &token,
        r#"{"model": "gpt-4o", "input": "Hello from the banner"}"#,
    );
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(
        answered.contains("You said: Hello from the banner"),
        "{answered}"
    );

    // More users of more tenants, from a second command.
    let minted = Command::new(BINARY)
        .args([
            "dev",
            "token",
            "--tenant",
            "acme",
            "--user",
            "alice",
            "--state-dir",
        ])
        .arg(state.path())
        .output()
        .unwrap();
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let acme = String::from_utf8(minted.stdout).unwrap();
    let threads = http_get_as(&address, "/v1/threads", acme.trim());
    assert!(threads.starts_with("HTTP/1.1 200"), "{threads}");
    assert!(
        threads.ends_with(r#""last_id":null,"object":"list"}"#) || threads.contains(r#""data":[]"#),
        "{threads}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "dev exited with {status} after SIGTERM");
    assert!(
        state.path().join("dev-issuer-key.pem").is_file(),
        "the issuer's key is kept"
    );
    assert!(
        !banner.contains("127.0.0.1:9464"),
        "dev picks a free metrics port: {banner}"
    );
    assert!(
        state.path().join("postgres/data/PG_VERSION").is_file(),
        "the database is kept"
    );
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

#[test]
fn json_logs_carry_the_request_id_and_trace_id_and_never_the_token() {
    let database = devdb::TestDatabase::create();
    let mut child = Command::new(BINARY)
        .arg("serve")
        .env("THREADGATE_DATABASE__URL", database.url())
        .env("THREADGATE_SERVER__LISTEN", "127.0.0.1:0")
        .env("THREADGATE_METRICS__LISTEN", "127.0.0.1:0")
        .env("THREADGATE_LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .env_remove("THREADGATE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve stopped early"
        );
        let entry: serde_json::Value = serde_json::from_str(&line).expect("every line is JSON");
        if entry["message"] == "serving" {
            break entry["port"].as_u64().unwrap();
        }
    };
    let address = format!("127.0.0.1:{port}");
    let secret_token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL25vd2hlcmUifQ.c2lnbmF0dXJl";
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /v1/threads HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {secret_token}\r\nx-request-id: req-logs-1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");

    let line = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no request log line"
        );
        if line.contains("req-logs-1") {
            break line;
        }
    };
    assert!(
        line.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "the trace id is on the line: {line}"
    );
    assert!(line.contains("/v1/threads"), "{line}");
    assert!(!line.contains(secret_token), "a token was logged: {line}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!rest.contains(secret_token), "a token was logged");
}

/// Runs `threadgate` with `args` against `database`; answers (success, stdout, stderr).
fn admin(database: &devdb::TestDatabase, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BINARY)
        .args(args)
        .env("THREADGATE_DATABASE__URL", database.url())
        .env("THREADGATE_UPSTREAMS__DEFAULT__FLAVOUR", "openai")
        .env(
            "THREADGATE_UPSTREAMS__DEFAULT__ENDPOINT",
            "http://127.0.0.1:1",
        )
        .env(
            "THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KIND",
            "openai_key",
        )
        .env("THREADGATE_UPSTREAMS__DEFAULT__CREDENTIAL__KEY", "unused")
        .env_remove("THREADGATE_CONFIG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn administration_commands_work_and_say_what_is_wrong() {
    let database = devdb::TestDatabase::create();

    let (ok, out, _) = admin(
        &database,
        &["tenant", "create", "acme", "--name", "Acme Inc."],
    );
    assert!(ok && out.contains("tenant `acme` created"), "{out}");
    let (ok, _, err) = admin(&database, &["tenant", "create", "acme"]);
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = admin(&database, &["tenant", "create", "Not A Slug"]);
    assert!(!ok && err.contains("lowercase letters"), "{err}");

    let issuer = [
        "issuer",
        "add",
        "--tenant",
        "acme",
        "--audience",
        "api://threadgate",
        "--issuer",
    ];
    let (ok, out, err) = admin(
        &database,
        &[&issuer[..], &["https://login.example.com/acme/v2.0"]].concat(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("now authenticates users of `acme`"), "{out}");
    let (ok, _, err) = admin(
        &database,
        &[&issuer[..], &["http://idp.example.com"]].concat(),
    );
    assert!(!ok && err.contains("https"), "{err}");
    let (ok, _, err) = admin(
        &database,
        &[&issuer[..], &["https://login.example.com/acme/v2.0"]].concat(),
    );
    assert!(!ok && err.contains("registered already"), "{err}");
    let (ok, _, err) = admin(
        &database,
        &[
            &issuer[..],
            &["https://other.example.com", "--algorithm", "HS256"],
        ]
        .concat(),
    );
    assert!(!ok && err.contains("HS256"), "{err}");
    let (ok, _, err) = admin(
        &database,
        &[
            "issuer",
            "add",
            "--tenant",
            "nobody",
            "--audience",
            "a",
            "--issuer",
            "https://x.example.com",
        ],
    );
    assert!(!ok && err.contains("no tenant `nobody`"), "{err}");

    let (ok, key, err) = admin(
        &database,
        &[
            "apikey",
            "create",
            "--tenant",
            "acme",
            "--name",
            "backend",
            "--on-behalf-of",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        key.trim().starts_with("tg_") && err.contains("shown once"),
        "{key} {err}"
    );
    let prefix = key
        .trim()
        .trim_start_matches("tg_")
        .split('_')
        .next()
        .unwrap()
        .to_owned();
    let (ok, out, err) = admin(
        &database,
        &["apikey", "revoke", "--tenant", "acme", "--prefix", &prefix],
    );
    assert!(ok && out.contains("revoked"), "{err}");
    let (ok, _, err) = admin(
        &database,
        &[
            "apikey",
            "revoke",
            "--tenant",
            "acme",
            "--prefix",
            "000000000000",
        ],
    );
    assert!(!ok && err.contains("no API key"), "{err}");

    let (ok, _, err) = admin(
        &database,
        &[
            "assistant",
            "register",
            "--tenant",
            "acme",
            "--id",
            "asst_../x",
        ],
    );
    assert!(!ok && err.contains("asst_../x"), "{err}");
    let (ok, _, err) = admin(
        &database,
        &[
            "assistant",
            "create",
            "--tenant",
            "acme",
            "--model",
            "m",
            "--tool",
            "web_browser",
        ],
    );
    assert!(!ok && err.contains("--tool `web_browser`"), "{err}");
}

#[test]
fn the_operator_lists_suspends_and_verifies_tenants() {
    let database = devdb::TestDatabase::create();
    let (migrated, _, err) = admin(&database, &["migrate"]);
    assert!(migrated, "{err}");
    for slug in ["acme", "globex"] {
        let (ok, _, err) = admin(&database, &["tenant", "create", slug]);
        assert!(ok, "{err}");
    }
    let (ok, listed, err) = admin(&database, &["tenant", "list"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = listed.lines().collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows[0].starts_with("acme\tactive\tdefault\t"), "{listed}");

    let (ok, _, err) = admin(&database, &["tenant", "disable", "acme"]);
    assert!(ok, "{err}");
    let (_, listed, _) = admin(&database, &["tenant", "list"]);
    assert!(listed.contains("acme\tsuspended"), "{listed}");
    assert!(listed.contains("globex\tactive"), "{listed}");
    let (ok, _, err) = admin(&database, &["tenant", "enable", "acme"]);
    assert!(ok, "{err}");
    let (ok, _, err) = admin(&database, &["tenant", "disable", "nobody"]);
    assert!(!ok);
    assert!(err.contains("nobody"), "{err}");

    let (ok, verified, err) = admin(&database, &["audit", "verify", "--tenant", "acme"]);
    assert!(ok, "{err}");
    assert!(verified.contains("intact"), "{verified}");
}
