//! A development OpenID issuer, served by Threadgate itself under
//! `/dev/oidc` in `threadgate dev`: an RSA key made once and kept in the
//! state directory, its JWKS, and tokens for any user of any tenant. Each
//! tenant gets an issuer URL of its own (`/dev/oidc/{tenant}`), since an
//! issuer selects exactly one tenant. Never part of `serve`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use anyhow::Context;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};

/// The audience of development tokens.
pub const AUDIENCE: &str = "threadgate";
/// The claim and value that mark a tenant admin in development tokens.
pub const ADMIN_CLAIM: (&str, &str) = ("roles", "threadgate.admin");
const KEY_FILE: &str = "dev-issuer-key.pem";

pub struct DevIssuer {
    issuer: String,
    kid: String,
    encoding: EncodingKey,
    public: RsaPublicKey,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// A new key, held in memory only (tests).
    pub fn generate(issuer: &str) -> anyhow::Result<Self> {
        let key =
            RsaPrivateKey::new(&mut rand_core::OsRng, 2048).context("generating an RSA key")?;
        Self::from_key(issuer, &key)
    }

    /// The key kept in `state_dir`, made on first use.
    pub fn load_or_create(state_dir: &Path, issuer: &str) -> anyhow::Result<Self> {
        let path = state_dir.join(KEY_FILE);
        let key = if path.is_file() {
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            RsaPrivateKey::from_pkcs8_pem(&pem)
                .with_context(|| format!("{} is not a PKCS#8 RSA key", path.display()))?
        } else {
            let key =
                RsaPrivateKey::new(&mut rand_core::OsRng, 2048).context("generating an RSA key")?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .context("encoding the key")?;
            std::fs::create_dir_all(state_dir)
                .with_context(|| format!("creating {}", state_dir.display()))?;
            std::fs::write(&path, pem.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            key
        };
        Self::from_key(issuer, &key)
    }

    fn from_key(issuer: &str, key: &RsaPrivateKey) -> anyhow::Result<Self> {
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the key")?;
        let public = key.to_public_key();
        let kid = hex_prefix(&public.n().to_bytes_be());
        Ok(Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            kid,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).context("loading the key")?,
            public,
        })
    }

    /// The issuer URL of a tenant's development identity provider.
    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.issuer)
    }

    pub fn jwks_uri(&self, tenant: &str) -> String {
        format!("{}/jwks.json", self.issuer(tenant))
    }

    /// The public key in JWK form (RS256).
    pub fn jwks(&self) -> Value {
        let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": b64(self.public.n().to_bytes_be()), "e": b64(self.public.e().to_bytes_be()),
        }]})
    }

    pub fn discovery(&self, tenant: &str) -> Value {
        json!({
            "issuer": self.issuer(tenant),
            "jwks_uri": self.jwks_uri(tenant),
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
        })
    }

    /// A token for `subject` of `tenant`, valid for `lifetime_seconds`.
    pub fn mint(
        &self,
        tenant: &str,
        subject: &str,
        admin: bool,
        lifetime_seconds: u64,
    ) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let mut claims = json!({
            "iss": self.issuer(tenant), "sub": subject, "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + lifetime_seconds,
        });
        if admin {
            claims[ADMIN_CLAIM.0] = json!([ADMIN_CLAIM.1]);
        }
        self.sign(&claims)
    }

    /// Signs any claims with this issuer's key (tests use it for forgeries
    /// that only the claims give away).
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }

    /// The public key as PEM (tests forge HS256 tokens with it).
    pub fn public_key_pem(&self) -> anyhow::Result<String> {
        use rsa::pkcs8::EncodePublicKey;
        Ok(self.public.to_public_key_pem(LineEnding::LF)?)
    }

    /// `/dev/oidc/{tenant}/.well-known/openid-configuration` and
    /// `/dev/oidc/{tenant}/jwks.json`.
    pub fn service(issuer: web::Data<DevIssuer>) -> actix_web::Scope {
        web::scope("/dev/oidc/{tenant}")
            .app_data(issuer)
            .route(
                "/.well-known/openid-configuration",
                web::get().to(
                    |issuer: web::Data<DevIssuer>, tenant: web::Path<String>| async move {
                        HttpResponse::Ok().json(issuer.discovery(&tenant))
                    },
                ),
            )
            .route(
                "/jwks.json",
                web::get().to(|issuer: web::Data<DevIssuer>| async move {
                    HttpResponse::Ok().json(issuer.jwks())
                }),
            )
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
