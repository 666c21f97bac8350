//! The official `openai` package for Node, installed from
//! `tests/node/package-lock.json` into a cache outside the clone
//! (`~/.cache/threadgate/node-<hash>`, or `NODE_TEST_MODULES`), once per
//! machine and again when the lock file changes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory of the Node tests.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// The prepared directory (with `node_modules`). Panics, saying what
/// failed, when it cannot be prepared: the tests cannot run without it.
fn prepared() -> &'static Path {
    static DIRECTORY: OnceLock<PathBuf> = OnceLock::new();
    DIRECTORY.get_or_init(|| match prepare() {
        Ok(directory) => directory,
        Err(problem) => panic!("cannot prepare the Node test packages: {problem}"),
    })
}

fn prepare() -> Result<PathBuf, String> {
    let lock = std::fs::read(tests_dir().join("package-lock.json"))
        .map_err(|e| format!("tests/node/package-lock.json: {e}"))?;
    let directory = match std::env::var_os("NODE_TEST_MODULES") {
        Some(path) => PathBuf::from(path),
        None => {
            let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
            Path::new(&home)
                .join(".cache/threadgate")
                .join(format!("node-{:016x}", fnv1a(&lock)))
        }
    };
    if directory.join("node_modules/openai/package.json").is_file() {
        return Ok(directory);
    }
    // Install beside the final place, then rename: concurrent test
    // processes never see a half-installed tree.
    let parent = directory.parent().ok_or("the cache path has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let building = parent.join(format!(
        "{}.building-{}",
        directory
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("node"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).map_err(|e| e.to_string())?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(tests_dir().join(file), building.join(file))
            .map_err(|e| format!("{file}: {e}"))?;
    }
    let output = Command::new("npm")
        .args(["ci", "--silent", "--no-audit", "--no-fund"])
        .current_dir(&building)
        .output()
        .map_err(|e| format!("npm: {e} (install Node.js with npm)"))?;
    if !output.status.success() {
        return Err(format!(
            "npm ci failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    if std::fs::rename(&building, &directory).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    Ok(directory)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs `script` (in `tests/node`) with `env`, and panics with its output
/// unless it succeeds.
#[allow(clippy::print_stdout)] // what the script reports is test output
pub fn run(script: &str, env: &[(&str, String)]) {
    let directory = prepared();
    // Beside its node_modules, so that `import "openai"` finds them.
    let placed = directory.join(script);
    std::fs::copy(tests_dir().join(script), &placed).expect("the script is copied");
    let mut command = Command::new("node");
    command.arg(&placed).current_dir(directory);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {script} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
}
