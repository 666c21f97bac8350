//! What a tenant's policy allows runs and responses to use: tool types and
//! models. Checked before anything is authorized or forwarded; a refusal is
//! a 400 that names the tool or the model.

use serde_json::Value;
use storage::repo::tenants::TenantSettings;

use crate::ApiError;

/// The tool types allowed when the tenant sets none. `mcp` and connectors
/// reach systems outside the tenant's upstream; a tenant admin may allow
/// them.
pub const DEFAULT_TOOLS: &[&str] = &[
    "function",
    "file_search",
    "code_interpreter",
    "web_search",
    "web_search_preview",
    "image_generation",
];

/// Every tool type a tenant may allow.
pub const KNOWN_TOOLS: &[&str] = &[
    "function",
    "file_search",
    "code_interpreter",
    "web_search",
    "web_search_preview",
    "image_generation",
    "mcp",
    "computer_use_preview",
    "local_shell",
    "custom",
];

/// The tool types `settings` allow.
pub fn allowed_tools(settings: &TenantSettings) -> Vec<String> {
    settings.allowed_tools.clone().unwrap_or_else(|| {
        DEFAULT_TOOLS
            .iter()
            .map(|tool| (*tool).to_owned())
            .collect()
    })
}

/// Refuses a body (a response, a run, an assistant) that names a tool type
/// or a model the tenant does not allow.
pub fn check_use(settings: &TenantSettings, body: &Value) -> Result<(), ApiError> {
    let allowed = allowed_tools(settings);
    for (index, tool) in body["tools"].as_array().into_iter().flatten().enumerate() {
        let kind = tool["type"].as_str().unwrap_or_default();
        if !allowed.iter().any(|allowed| allowed == kind) {
            return Err(ApiError::bad_request(
                format!(
                    "Tool type '{kind}' is not allowed for this tenant. Allowed: {}.",
                    allowed.join(", ")
                ),
                Some(&format!("tools[{index}].type")),
            ));
        }
    }
    if let (Some(models), Some(model)) = (&settings.allowed_models, body["model"].as_str()) {
        if !models.iter().any(|allowed| allowed == model) {
            return Err(ApiError::bad_request(
                format!(
                    "Model '{model}' is not allowed for this tenant. Allowed: {}.",
                    models.join(", ")
                ),
                Some("model"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_default_refuses_tools_that_reach_other_systems() {
        let settings = TenantSettings::default();
        assert!(check_use(&settings, &json!({"tools": [{"type": "file_search"}]})).is_ok());
        let refused = check_use(
            &settings,
            &json!({"tools": [{"type": "function"}, {"type": "mcp"}]}),
        )
        .unwrap_err();
        assert!(refused.to_string().contains("'mcp'"), "{refused}");
    }

    #[test]
    fn a_tenants_lists_replace_the_defaults() {
        let settings = TenantSettings {
            allowed_tools: Some(vec!["mcp".to_owned()]),
            allowed_models: Some(vec!["gpt-4o".to_owned()]),
            ..TenantSettings::default()
        };
        assert!(
            check_use(
                &settings,
                &json!({"model": "gpt-4o", "tools": [{"type": "mcp"}]})
            )
            .is_ok()
        );
        assert!(check_use(&settings, &json!({"tools": [{"type": "function"}]})).is_err());
        let model = check_use(&settings, &json!({"model": "gpt-4.1"})).unwrap_err();
        assert!(model.to_string().contains("'gpt-4.1'"), "{model}");
    }
}
