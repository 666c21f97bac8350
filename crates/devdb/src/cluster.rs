//! A private PostgreSQL server that lives as long as the process that started it.
//!
//! The server is run by a small shell watchdog whose standard input is a pipe
//! from this process. When this process exits, however it exits, the pipe
//! closes, the watchdog's `read` returns, and it stops the server and removes
//! the directory. Nothing is left behind, and no cleanup code has to run in
//! this process.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::DevDbError;

/// Superuser of the throwaway cluster (trust authentication on loopback only).
const SUPERUSER: &str = "threadgate";

/// The watchdog: start the server, say so, wait for our end of the pipe to
/// close, then stop the server and remove everything. SIGINT is ignored so a
/// Ctrl-C aimed at the test run still lets the cleanup happen.
const WATCHDOG: &str = r#"
trap '' INT
bin="$1"; base="$2"; port="$3"
"$bin/pg_ctl" start -w -s -D "$base/data" -l "$base/postgres.log" -o "-p $port -k $base -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" || exit 1
echo ready
read _ || true
if [ "$4" = keep ]; then
    "$bin/pg_ctl" stop -s -m fast -D "$base/data" >/dev/null 2>&1
else
    "$bin/pg_ctl" stop -s -m immediate -D "$base/data" >/dev/null 2>&1
    rm -rf "$base"
fi
"#;

/// A running throwaway cluster. Keep it alive for as long as the server is
/// needed; dropping it (or exiting) stops the server and deletes its files.
#[derive(Debug)]
pub struct EphemeralCluster {
    url: String,
    port: u16,
    base: PathBuf,
    watchdog: Child,
    /// Held open; closing it is what tells the watchdog to clean up.
    lifeline: Option<ChildStdin>,
}

impl EphemeralCluster {
    /// Initializes and starts a new cluster in a temporary directory,
    /// removed when it stops. Takes a second or two.
    pub fn start() -> Result<Self, DevDbError> {
        let base = tempfile::Builder::new()
            .prefix("threadgate-pg-")
            .tempdir()?
            .keep();
        Self::start_in(base, false)
    }

    /// Starts a cluster kept in `directory` (initialized on first use); it is
    /// stopped, not removed, when this process exits.
    pub fn start_kept(directory: &Path) -> Result<Self, DevDbError> {
        std::fs::create_dir_all(directory)?;
        Self::start_in(std::fs::canonicalize(directory)?, true)
    }

    fn start_in(base: PathBuf, keep: bool) -> Result<Self, DevDbError> {
        let bin = find_server_binaries().ok_or(DevDbError::BinariesNotFound)?;
        let run_as = unprivileged_user_if_root()?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&base, Some(uid), Some(gid))?;
        }
        if keep && base.join("data").join("PG_VERSION").is_file() {
            return Self::launch(&bin, base, run_as, keep);
        }

        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("--pgdata")
            .arg(base.join("data"))
            .args(["--username", SUPERUSER, "--auth", "trust"])
            .args(["--encoding", "UTF8", "--locale", "C", "--no-sync"]);
        let initdb_result = run_checked(as_user(&mut initdb, run_as), "initdb");
        if let Err(error) = initdb_result {
            if !keep {
                let _ = std::fs::remove_dir_all(&base);
            }
            return Err(error);
        }
        Self::launch(&bin, base, run_as, keep)
    }

    fn launch(
        bin: &Path,
        base: PathBuf,
        run_as: Option<(u32, u32)>,
        keep: bool,
    ) -> Result<Self, DevDbError> {
        let port = free_port()?;
        let mut watchdog = Command::new("sh");
        watchdog
            .arg("-c")
            .arg(WATCHDOG)
            .arg("threadgate-pg-watchdog")
            .arg(bin)
            .arg(&base)
            .arg(port.to_string())
            .arg(if keep { "keep" } else { "remove" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut watchdog = as_user(&mut watchdog, run_as).spawn()?;
        let lifeline = watchdog.stdin.take().ok_or_else(|| DevDbError::Command {
            step: "starting postgres",
            detail: "no pipe to the watchdog".to_owned(),
        })?;

        // Wait for the watchdog's "ready" (or for it to exit on failure).
        let mut line = String::new();
        if let Some(stdout) = watchdog.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        if line.trim() != "ready" {
            let log = read_log(&base.join("postgres.log"));
            let _ = watchdog.wait();
            if !keep {
                let _ = std::fs::remove_dir_all(&base);
            }
            return Err(DevDbError::Command {
                step: "starting postgres",
                detail: log,
            });
        }

        Ok(Self {
            url: format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres"),
            port,
            base,
            watchdog,
            lifeline: Some(lifeline),
        })
    }

    /// URL of the `postgres` database, as the superuser.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the cluster's files (removed when it stops).
    pub fn directory(&self) -> &Path {
        &self.base
    }

    /// Stops the server, waits until its files are gone.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for EphemeralCluster {
    fn drop(&mut self) {
        // Closing our end of the pipe is the signal; the watchdog does the rest.
        drop(self.lifeline.take());
        let _ = self.watchdog.wait();
    }
}

/// `initdb` and `pg_ctl` from PATH, else from the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout, not on PATH).
fn find_server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// PostgreSQL refuses to run as root. When we are root, the server runs as
/// the `postgres` user (present wherever the server package is installed).
fn unprivileged_user_if_root() -> Result<Option<(u32, u32)>, DevDbError> {
    if std::fs::metadata("/proc/self")?.uid() != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32, DevDbError> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| DevDbError::Command {
                step: "finding the postgres user",
                detail: "running as root and there is no `postgres` user to run the server as"
                    .to_owned(),
            })
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

fn as_user(command: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid).env("HOME", "/tmp");
    }
    command
}

fn run_checked(command: &mut Command, step: &'static str) -> Result<(), DevDbError> {
    let output = command.stdin(Stdio::null()).output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(DevDbError::Command {
        step,
        detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

fn free_port() -> Result<u16, DevDbError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn read_log(path: &Path) -> String {
    let mut log = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_string(&mut log);
    }
    if log.is_empty() {
        "the server did not start (no log written)".to_owned()
    } else {
        log
    }
}
