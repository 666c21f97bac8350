//! The emulator, driven by the official `openai` Python SDK and checked
//! against the response schemas of the upstream specifications (pinned in
//! `tests/python/requirements.txt`).

use emulator::{EmulatorConfig, RunningEmulator};
use threadgate_tests::python;

fn start_emulator() -> RunningEmulator {
    RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).unwrap()
}

fn env_for(emulator: &RunningEmulator) -> Vec<(&'static str, String)> {
    let config = EmulatorConfig::default();
    vec![
        ("EMULATOR_BASE_URL", emulator.base_url()),
        ("EMULATOR_API_KEY", config.api_key),
        ("EMULATOR_CLIENT_ID", config.entra.client_id),
        ("EMULATOR_CLIENT_SECRET", config.entra.client_secret),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_sdk_runs_every_flow_against_the_emulator() {
    let emulator = start_emulator();
    let env = env_for(&emulator);
    tokio::task::spawn_blocking(move || python::pytest("test_emulator_sdk.py", &env))
        .await
        .unwrap();
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_emulator_response_matches_the_spec_schemas() {
    let emulator = start_emulator();
    let env = env_for(&emulator);
    tokio::task::spawn_blocking(move || python::pytest("test_emulator_schemas.py", &env))
        .await
        .unwrap();
    emulator.stop().await;
}
