//! Shared set-up: an emulator on a free port and clients for it.

#![allow(dead_code)]

use std::time::Duration;

use emulator::{EmulatorConfig, RunningEmulator};
use secrecy::SecretString;
use upstream::{
    BreakerConfig, CredentialConfig, Flavour, ProfileConfig, RetryConfig, Timeouts, UpstreamClient,
};

pub fn emulator() -> RunningEmulator {
    emulator_with(EmulatorConfig::default())
}

pub fn emulator_with(config: EmulatorConfig) -> RunningEmulator {
    RunningEmulator::start(config, "127.0.0.1:0".parse().expect("an address"))
        .expect("the emulator starts")
}

pub fn profile(emulator: &RunningEmulator, flavour: Flavour) -> ProfileConfig {
    let key = SecretString::from(EmulatorConfig::default().api_key);
    let endpoint = match flavour {
        Flavour::Foundry => emulator.foundry_project_url(),
        Flavour::Azure | Flavour::OpenAi => emulator.base_url(),
    };
    ProfileConfig {
        flavour,
        endpoint: endpoint.parse().expect("a URL"),
        api_version: None,
        credential: match flavour {
            Flavour::Azure => CredentialConfig::AzureApiKey { key },
            Flavour::OpenAi => CredentialConfig::OpenAiKey { key },
            // A Foundry project takes Entra tokens only.
            Flavour::Foundry => CredentialConfig::EntraClientSecret {
                tenant_id: "contoso".to_owned(),
                client_id: EmulatorConfig::default().entra.client_id,
                client_secret: SecretString::from(EmulatorConfig::default().entra.client_secret),
                authority: Some(emulator.base_url().parse().expect("a URL")),
                scope: None,
            },
        },
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(10),
        },
        retry: RetryConfig {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        circuit_breaker: BreakerConfig {
            failure_threshold: 100,
            open_for: Duration::from_secs(60),
        },
    }
}

pub fn client(config: ProfileConfig) -> UpstreamClient {
    UpstreamClient::new("test", config).expect("a valid profile")
}

/// Requests the emulator received for a path, by method.
pub fn received(emulator: &RunningEmulator, method: &str, path_suffix: &str) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_suffix))
        .count()
}

/// Sets a fault for the next matching requests through the admin route.
pub async fn add_fault(emulator: &RunningEmulator, fault: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator/faults", emulator.base_url()))
        .json(&fault)
        .send()
        .await
        .expect("the admin route answers");
    assert!(
        response.status().is_success(),
        "{fault}: {}",
        response.status()
    );
}

pub async fn clear_faults(emulator: &RunningEmulator) {
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emulator.base_url()))
        .send()
        .await
        .expect("the admin route answers");
}

pub async fn token_requests(emulator: &RunningEmulator) -> Vec<serde_json::Value> {
    reqwest::Client::new()
        .get(format!("{}/_emulator/token-requests", emulator.base_url()))
        .send()
        .await
        .expect("the admin route answers")
        .json()
        .await
        .expect("JSON")
}
