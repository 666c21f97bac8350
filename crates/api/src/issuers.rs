//! What makes an identity provider acceptable, checked the same way for
//! the operator's `threadgate issuer add` and a tenant admin's
//! `POST /v1/organization/issuers`.

use serde::Deserialize;
use utoipa::ToSchema;

/// Signature algorithms an issuer may use: asymmetric only, so a verifier
/// never holds a secret that could sign tokens.
pub const ASYMMETRIC: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// An identity provider to trust.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpec {
    /// The issuer URL, exactly as its tokens carry it in `iss`: https
    /// (http only on localhost).
    pub issuer: String,
    /// Accepted `aud` values; at least one.
    pub audiences: Vec<String>,
    /// Where its signing keys are; discovered from the issuer's
    /// `/.well-known/openid-configuration` when absent.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Accepted algorithms, asymmetric only; `["RS256"]` when absent.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The claim that holds the user's subject; `sub` when absent.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// `claim=value` that marks a tenant admin, e.g. `roles=threadgate.admin`.
    #[serde(default)]
    pub admin_claim: Option<String>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".to_owned()]
}

fn default_subject_claim() -> String {
    "sub".to_owned()
}

/// An [`IssuerSpec`] that passed [`check`]: ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedIssuer {
    /// Without a trailing `/`.
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    pub algorithms: Vec<String>,
    pub subject_claim: String,
    pub admin_claim: Option<(String, String)>,
}

/// Why a spec is refused: what to fix, and which field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerProblem {
    pub message: String,
    pub field: &'static str,
}

fn problem(field: &'static str, message: String) -> IssuerProblem {
    IssuerProblem { message, field }
}

/// An https URL, or http on the loopback interface (a local identity
/// provider in development).
fn secure_url(field: &'static str, value: &str) -> Result<(), IssuerProblem> {
    let url =
        url::Url::parse(value).map_err(|_| problem(field, format!("`{value}` is not a URL.")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        return Ok(());
    }
    Err(problem(
        field,
        format!("`{value}` must be an https URL (http only on localhost)."),
    ))
}

/// Checks everything about `spec` that needs no network.
pub fn check(spec: &IssuerSpec) -> Result<CheckedIssuer, IssuerProblem> {
    secure_url("issuer", &spec.issuer)?;
    if let Some(jwks_uri) = &spec.jwks_uri {
        secure_url("jwks_uri", jwks_uri)?;
    }
    let audiences: Vec<String> = spec
        .audiences
        .iter()
        .map(|audience| audience.trim().to_owned())
        .filter(|audience| !audience.is_empty())
        .collect();
    if audiences.is_empty() {
        return Err(problem(
            "audiences",
            "An issuer needs at least one accepted audience.".to_owned(),
        ));
    }
    if spec.algorithms.is_empty() {
        return Err(problem(
            "algorithms",
            format!("Name at least one of {}.", ASYMMETRIC.join(", ")),
        ));
    }
    if let Some(bad) = spec
        .algorithms
        .iter()
        .find(|algorithm| !ASYMMETRIC.contains(&algorithm.as_str()))
    {
        return Err(problem(
            "algorithms",
            format!(
                "Algorithm `{bad}` is not accepted: use one of {}.",
                ASYMMETRIC.join(", ")
            ),
        ));
    }
    if spec.subject_claim.trim().is_empty() {
        return Err(problem(
            "subject_claim",
            "Name the claim that holds the user's subject (e.g. `sub`).".to_owned(),
        ));
    }
    let admin_claim = spec
        .admin_claim
        .as_deref()
        .map(|pair| match pair.split_once('=') {
            Some((claim, value)) if !claim.is_empty() && !value.is_empty() => {
                Ok((claim.to_owned(), value.to_owned()))
            }
            _ => Err(problem(
                "admin_claim",
                "The admin claim is `claim=value`, e.g. `roles=threadgate.admin`.".to_owned(),
            )),
        })
        .transpose()?;
    Ok(CheckedIssuer {
        issuer: spec.issuer.trim_end_matches('/').to_owned(),
        audiences,
        jwks_uri: spec.jwks_uri.clone(),
        algorithms: spec.algorithms.clone(),
        subject_claim: spec.subject_claim.trim().to_owned(),
        admin_claim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> IssuerSpec {
        IssuerSpec {
            issuer: "https://login.example.com/".to_owned(),
            audiences: vec!["api://threadgate".to_owned()],
            jwks_uri: None,
            algorithms: default_algorithms(),
            subject_claim: default_subject_claim(),
            admin_claim: Some("roles=threadgate.admin".to_owned()),
        }
    }

    #[test]
    fn a_well_formed_issuer_passes_trimmed() {
        let checked = check(&spec()).unwrap();
        assert_eq!(checked.issuer, "https://login.example.com");
        assert_eq!(
            checked.admin_claim,
            Some(("roles".to_owned(), "threadgate.admin".to_owned()))
        );
    }

    #[test]
    fn each_problem_names_its_field() {
        type Spoil = fn(&mut IssuerSpec);
        let cases: [(Spoil, &str); 7] = [
            (
                |s| s.issuer = "http://login.example.com".to_owned(),
                "issuer",
            ),
            (|s| s.issuer = "not a url".to_owned(), "issuer"),
            (|s| s.jwks_uri = Some("ftp://keys".to_owned()), "jwks_uri"),
            (|s| s.audiences = vec![" ".to_owned()], "audiences"),
            (|s| s.algorithms = vec!["HS256".to_owned()], "algorithms"),
            (|s| s.subject_claim = String::new(), "subject_claim"),
            (|s| s.admin_claim = Some("roles".to_owned()), "admin_claim"),
        ];
        for (spoil, field) in cases {
            let mut spec = spec();
            spoil(&mut spec);
            assert_eq!(check(&spec).unwrap_err().field, field);
        }
        let mut local = spec();
        local.issuer = "http://127.0.0.1:8080".to_owned();
        assert!(check(&local).is_ok(), "http on loopback for development");
    }
}
