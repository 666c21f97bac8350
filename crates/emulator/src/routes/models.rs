//! The model catalogue, in each flavour's shape: OpenAI's `listModels`
//! (`{id, object, created, owned_by}`) and Azure's authoring `Models_List`
//! (`{id, object, created_at, status, capabilities, lifecycle_status,
//! deprecation}`).

use actix_web::web;
use serde_json::{Value, json};

use super::{Reply, ok};
use crate::gate::Flavour;

/// The models this upstream offers, with the time each was made.
const CATALOGUE: &[(&str, i64)] = &[
    ("gpt-4o", 1_715_367_049),
    ("gpt-4o-mini", 1_721_172_741),
    ("gpt-4.1", 1_744_316_542),
];

/// Two years of inference after creation, as Azure's deprecation dates go.
const INFERENCE_LIFETIME_SECONDS: i64 = 2 * 365 * 24 * 3600;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config.route("/models", web::get().to(list));
}

async fn list(flavour: web::Data<Flavour>) -> Reply {
    let data: Vec<Value> = CATALOGUE
        .iter()
        .map(|&(id, created)| match **flavour {
            Flavour::OpenAi => json!({
                "id": id,
                "object": "model",
                "created": created,
                "owned_by": "system",
            }),
            Flavour::Azure => json!({
                "id": id,
                "object": "model",
                "created_at": created,
                "status": "succeeded",
                "capabilities": {
                    "fine_tune": false,
                    "inference": true,
                    "completion": false,
                    "chat_completion": true,
                    "embeddings": false,
                },
                "lifecycle_status": "generally-available",
                "deprecation": {"inference": created + INFERENCE_LIFETIME_SECONDS},
            }),
        })
        .collect();
    ok(json!({"object": "list", "data": data}))
}
