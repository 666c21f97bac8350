//! A real Redis for the tests that share limits between replicas: the one
//! `REDIS_URL` names, or a throwaway `redis-server` this harness starts on
//! a free port (keeping nothing on disk) and stops when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct TestRedis {
    url: String,
    server: Option<Child>,
}

impl TestRedis {
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Self { url, server: None };
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let server = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt install redis-server), or REDIS_URL names a Redis");
        let redis = Self {
            url: format!("redis://127.0.0.1:{port}"),
            server: Some(server),
        };
        // Bounded: 200 attempts 25 ms apart.
        for _ in 0..200 {
            if answers_ping(port) {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server on port {port} never answered PING");
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut connection) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = connection.set_read_timeout(Some(Duration::from_millis(200)));
    let mut answer = [0u8; 7];
    connection.write_all(b"PING\r\n").is_ok()
        && connection.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}
