//! The official `openai` package for Node, and the TypeScript client
//! generator (openapi-typescript, openapi-fetch, tsc), installed from
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
    if directory.join("node_modules/.package-lock.json").is_file() {
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

/// Generates TypeScript types from the committed `openapi/openapi.json`
/// with openapi-typescript, compiles `script` (in `tests/node`, importing
/// them from `./schema.js`) with `tsc --strict`, and runs it with `env`;
/// panics with the output of the step that failed.
#[allow(clippy::print_stdout)] // what the script reports is test output
pub fn run_typescript(script: &str, env: &[(&str, String)]) {
    let directory = prepared();
    // Inside the prepared directory, so imports find its node_modules; one
    // directory per run, so concurrent runs never share files.
    let work = tempfile::Builder::new()
        .prefix("typescript-")
        .tempdir_in(directory)
        .expect("a work directory");
    let bin = |name: &str| directory.join("node_modules/.bin").join(name);
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let schema = work.path().join("schema.d.ts");
    succeed(
        "openapi-typescript",
        Command::new(bin("openapi-typescript"))
            .arg(&document)
            .arg("-o")
            .arg(&schema),
    );
    std::fs::copy(tests_dir().join(script), work.path().join(script))
        .expect("the script is copied");
    let config = serde_json::json!({
        "compilerOptions": {
            "strict": true,
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "types": ["node"],
            "outDir": "out",
            "noEmitOnError": true,
        },
        "files": [script],
    });
    std::fs::write(work.path().join("tsconfig.json"), config.to_string())
        .expect("tsconfig.json is written");
    succeed(
        "tsc --strict",
        Command::new(bin("tsc")).arg("-p").arg(work.path()),
    );
    let compiled = work.path().join("out").join(script.replace(".ts", ".js"));
    let mut command = Command::new("node");
    command.arg(&compiled).current_dir(work.path());
    for (name, value) in env {
        command.env(name, value);
    }
    println!("{}", succeed(script, &mut command));
}

/// Runs `command`, answering its standard output; panics with both outputs
/// when it fails.
fn succeed(step: &str, command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{step} does not start: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{step} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
