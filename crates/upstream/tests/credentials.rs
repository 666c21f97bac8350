//! Entra ID credentials against the emulator's token endpoint, and secrets
//! that never print.

// These tests exercise the client itself.
#![allow(clippy::disallowed_methods)]
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use emulator::{EmulatorConfig, EntraSettings};
use secrecy::SecretString;
use serde_json::{Value, json};
use upstream::{CredentialConfig, Flavour, Operation, UpstreamError, UpstreamRequest};

fn emulator_with_token_lifetime(lifetime: Duration) -> emulator::RunningEmulator {
    support::emulator_with(EmulatorConfig {
        entra: EntraSettings {
            token_lifetime: lifetime,
            ..EmulatorConfig::default().entra
        },
        ..EmulatorConfig::default()
    })
}

fn entra_secret(emulator: &emulator::RunningEmulator, secret: &str) -> upstream::ProfileConfig {
    let mut config = support::profile(emulator, Flavour::Azure);
    config.credential = CredentialConfig::EntraClientSecret {
        tenant_id: "contoso".to_owned(),
        client_id: "emulator-client".to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
        authority: Some(emulator.base_url().parse().unwrap()),
        scope: None,
    };
    config
}

async fn list_assistants(client: &upstream::UpstreamClient) -> Result<Value, UpstreamError> {
    client
        .call(UpstreamRequest::new(Operation::ListAssistants, &[]))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_tokens_are_fetched_once_and_shared_by_concurrent_calls() {
    let emulator = emulator_with_token_lifetime(Duration::from_secs(3600));
    let client = Arc::new(support::client(entra_secret(&emulator, "emulator-secret")));

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { list_assistants(&client).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("authorized with the token");
    }
    list_assistants(&client).await.unwrap();

    let requests = support::token_requests(&emulator).await;
    assert_eq!(
        requests.len(),
        1,
        "one token for eleven calls: {requests:?}"
    );
    assert_eq!(requests[0]["tenant"], "contoso");
    assert_eq!(requests[0]["credential"], "secret");
    assert_eq!(
        requests[0]["scope"],
        "https://cognitiveservices.azure.com/.default"
    );
    let journal = emulator.requests();
    assert!(
        journal
            .iter()
            .all(|r| r.headers.contains_key("authorization") && !r.headers.contains_key("api-key"))
    );
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_at_the_end_of_its_life_is_replaced() {
    // Tokens that expire at once must be fetched anew for every call.
    let emulator = emulator_with_token_lifetime(Duration::ZERO);
    let client = support::client(entra_secret(&emulator, "emulator-secret"));
    for _ in 0..3 {
        list_assistants(&client).await.unwrap();
    }
    assert_eq!(support::token_requests(&emulator).await.len(), 3);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_client_secret_is_a_credential_error_that_does_not_leak_it() {
    let emulator = support::emulator();
    let client = support::client(entra_secret(&emulator, "not-the-secret-hunter2"));
    let error = list_assistants(&client).await.unwrap_err();
    assert!(matches!(error, UpstreamError::Credential(_)), "{error:?}");
    assert!(error.to_string().contains("invalid_client"), "{error}");
    assert!(!error.to_string().contains("hunter2"));
    assert!(!format!("{client:?}").contains("hunter2"));
    assert!(
        emulator.requests().is_empty(),
        "the upstream was never called"
    );
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_identity_reads_the_rotated_assertion() {
    let emulator = emulator_with_token_lifetime(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, "assertion-one\n").unwrap();
    let mut config = support::profile(&emulator, Flavour::Azure);
    config.credential = CredentialConfig::EntraWorkloadIdentity {
        tenant_id: "contoso".to_owned(),
        client_id: "emulator-client".to_owned(),
        token_file: Some(token_file.clone()),
        authority: Some(emulator.base_url().parse().unwrap()),
        scope: None,
    };
    let client = support::client(config);

    list_assistants(&client).await.unwrap();
    std::fs::write(&token_file, "assertion-two\n").unwrap();
    list_assistants(&client).await.unwrap();

    let requests = support::token_requests(&emulator).await;
    let assertions: Vec<_> = requests.iter().map(|r| r["assertion"].clone()).collect();
    assert_eq!(
        assertions,
        vec![json!("assertion-one"), json!("assertion-two")]
    );
    assert!(requests.iter().all(|r| r["credential"] == "assertion"));
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_never_appear_in_debug_output() {
    let emulator = support::emulator();
    let mut config = support::profile(&emulator, Flavour::OpenAi);
    config.credential = CredentialConfig::OpenAiKey {
        key: SecretString::from("sk-hunter2"),
    };
    assert!(!format!("{config:?}").contains("hunter2"));
    let client = support::client(config);
    assert!(!format!("{client:?}").contains("hunter2"));
    emulator.stop().await;
}
