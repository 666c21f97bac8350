//! A Python virtual environment with the packages of
//! `tests/python/requirements.txt`, for tests that drive Threadgate and the
//! emulator with the official `openai` SDK.
//!
//! The environment is cached outside the clone (`~/.cache/threadgate/`, or
//! `PYTHON_TEST_VENV`), keyed by the requirements' content, so it is
//! built once per machine and rebuilt when the requirements change.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The directory of the Python tests.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The interpreter of the prepared environment. Panics, saying what failed,
/// when the environment cannot be built: the tests cannot run without it.
pub fn interpreter() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| match prepare() {
        Ok(python) => python,
        Err(problem) => panic!("cannot prepare the Python test environment: {problem}"),
    })
}

fn prepare() -> Result<PathBuf, String> {
    let requirements = tests_dir().join("requirements.txt");
    let content =
        std::fs::read(&requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    let venv = match std::env::var_os("PYTHON_TEST_VENV") {
        Some(path) => PathBuf::from(path),
        None => {
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            Path::new(&home)
                .join(".cache/threadgate")
                .join(format!("venv-{:016x}", fnv1a(&content)))
        }
    };
    let python = venv.join("bin/python");
    if python.is_file() {
        return Ok(python);
    }

    // Build beside the final place, then rename: concurrent test processes
    // never see a half-installed environment.
    let parent = venv.parent().ok_or("the environment path has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let building = parent.join(format!(
        "{}.building-{}",
        venv.file_name().and_then(|n| n.to_str()).unwrap_or("venv"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    run(Command::new("python3").args(["-m", "venv"]).arg(&building))?;
    run(Command::new(building.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    if std::fs::rename(&building, &venv).is_err() {
        // Another process finished first; use theirs.
        let _ = std::fs::remove_dir_all(&building);
    }
    if python.is_file() {
        Ok(python)
    } else {
        Err(format!("{} was not created", python.display()))
    }
}

fn run(command: &mut Command) -> Result<Output, String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{command:?} failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A stable 64-bit FNV-1a hash, enough to key a cache directory.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs pytest on `test_file` (relative to `tests/python`) with `env`, and
/// panics with pytest's output unless every test passed.
#[allow(clippy::print_stdout)] // the summary line is test output
pub fn pytest(test_file: &str, env: &[(&str, String)]) {
    let mut command = Command::new(interpreter());
    command
        // -rs: a skipped test says why, in the summary.
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
        // The Assistants API is deprecated upstream; the SDK says so on every call.
        .args(["-W", "ignore::DeprecationWarning", test_file])
        .current_dir(tests_dir());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("pytest starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "pytest {test_file} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // pytest's summary, so the run's log shows what ran and what was skipped
    // and why (captured unless it fails).
    for line in stdout.lines().filter(|line| line.starts_with("SKIPPED")) {
        println!("{line}");
    }
    println!("{}", stdout.lines().last().unwrap_or_default());
}
