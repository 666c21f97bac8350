//! Sharing a thread or a conversation with another user of the tenant:
//! `POST`, `GET` `…/{id}/shares` and `DELETE …/{id}/shares/{user}`, the
//! owner's alone (`Action::Share`). A share is a grant row, read by the
//! authorization lookup in the same query as the object, so it enters the
//! one decision function like ownership does and a revoke binds on every
//! replica from the grantee's next request; the gateway also re-checks a
//! grantee's right after the upstream answered and before each streamed
//! event (`gateway::Authorized::still_allowed`), so nothing the owner writes
//! after a revoke reaches the revoked user.

// actix-web's route attributes make a unit struct per handler; expanded
// from `share_routes!`, the lint that asks for `Debug` takes them for ours.
#![allow(missing_debug_implementations)]

use actix_web::{HttpResponse, delete, get, post, web};
use domain::{Action, Permission, ResourceKind, UserId};
use serde::Deserialize;
use serde_json::{Value, json};
use storage::StorageError;
use storage::repo::audit::Outcome;
use storage::repo::grants::{self, MAX_SHARES_PER_OBJECT, Share};
use storage::repo::resources::Resource;
use storage::repo::users;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::gateway::Exchange;
use crate::request_id::RequestId;
use crate::{ApiError, AppState, ErrorBody};

/// Who gets which right on the object.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// The other user's subject at the tenant's identity provider (the
    /// `sub` of their tokens, or what a backend names with
    /// `Threadgate-On-Behalf-Of`).
    user: String,
    /// `read`: the object, its messages or items, runs, steps and output
    /// files. `write`: also add messages and run. Deleting and sharing stay
    /// with the owner.
    permission: SharePermission,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum SharePermission {
    Read,
    Write,
}

impl From<SharePermission> for Permission {
    fn from(permission: SharePermission) -> Self {
        match permission {
            SharePermission::Read => Permission::Read,
            SharePermission::Write => Permission::Write,
        }
    }
}

/// Longest subject a share may name, in bytes as a token's is measured
/// (identity providers' subjects are far shorter).
const MAX_SUBJECT_BYTES: usize = 255;

/// What a share request came to.
enum Shared {
    Made(UserId, chrono::DateTime<chrono::Utc>),
    Yourself,
    TooMany,
}

/// What one request about an object's shares needs.
struct Shares<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    request_id: &'a RequestId,
    kind: ResourceKind,
}

impl Shares<'_> {
    /// The object, when the caller may share it: its owner (another user
    /// with a share of it gets a 403, anyone else the never-existed 404).
    async fn object(&self, id: &str) -> Result<Resource, ApiError> {
        let (_, resource, _) = Exchange::new(self.state, self.caller, self.request_id)
            .path(self.kind, id, Action::Share)
            .authorize_one()
            .await?;
        Ok(resource)
    }

    fn share_object(&self, object_id: &str, share: &Share) -> Value {
        let kind = self.kind.as_str();
        json!({
            "object": format!("{kind}.share"),
            format!("{kind}_id"): object_id,
            "user": share.subject,
            "permission": share.permission.as_str(),
            "created_at": share.created_at.timestamp(),
        })
    }

    fn audit(&self, action: &str, resource: &Resource, details: Value) {
        let mut event =
            crate::audit::event(self.caller, &self.request_id.0, action, Outcome::Allow);
        event.resource_kind = Some(self.kind.as_str());
        event.resource_id = Some(resource.facts.id);
        event.upstream_id = resource.upstream_id.as_ref().map(ToString::to_string);
        event.details = details;
        self.state.audit.record(event);
    }

    async fn create(&self, id: &str, body: ShareRequest) -> Result<HttpResponse, ApiError> {
        let subject = body.user.trim().to_owned();
        // Bytes, as the subject of a token is measured.
        if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            return Err(ApiError::bad_request(
                format!("Invalid 'user': a user's subject of 1 to {MAX_SUBJECT_BYTES} bytes."),
                Some("user"),
            ));
        }
        let resource = self.object(id).await?;
        let (tenant_id, object) = (self.caller.tenant.id, resource.facts.id);
        let (granted_by, permission) = (self.caller.user(), Permission::from(body.permission));
        let named = subject.clone();
        let shared = self
            .state
            .database
            .transaction("shares.create", move |conn| {
                // A subject is registered only for a share that is made.
                match users::find_by_subject(conn, tenant_id, &named) {
                    Ok(user) if Some(user.id) == granted_by => return Ok(Shared::Yourself),
                    Ok(_) | Err(StorageError::NotFound) => {}
                    Err(error) => return Err(error),
                }
                let grantee = users::find_or_register(conn, tenant_id, &named)?;
                match grants::share(conn, tenant_id, object, grantee.id, permission, granted_by)? {
                    Some(created_at) => Ok(Shared::Made(grantee.id, created_at)),
                    None => {
                        grants::forget_if_unseen(conn, tenant_id, grantee.id)?;
                        Ok(Shared::TooMany)
                    }
                }
            })
            .await?;
        let (grantee, created_at) = match shared {
            Shared::Yourself => {
                return Err(ApiError::bad_request(
                    format!(
                        "You own this {}: share it with another user.",
                        self.kind.noun()
                    ),
                    Some("user"),
                ));
            }
            Shared::TooMany => {
                return Err(ApiError::bad_request(
                    format!(
                        "A {} may be shared with at most {MAX_SHARES_PER_OBJECT} users: revoke a share first.",
                        self.kind.noun()
                    ),
                    Some("user"),
                ));
            }
            Shared::Made(grantee, created_at) => (grantee, created_at),
        };
        self.audit(
            "share_grant",
            &resource,
            json!({"grantee_user_id": grantee.to_string(), "permission": permission.as_str()}),
        );
        let share = Share {
            grantee,
            subject,
            permission,
            created_at,
        };
        Ok(HttpResponse::Ok().json(self.share_object(id, &share)))
    }

    async fn list(&self, id: &str) -> Result<HttpResponse, ApiError> {
        let resource = self.object(id).await?;
        let (tenant_id, object) = (self.caller.tenant.id, resource.facts.id);
        let shares = self
            .state
            .database
            .run("shares.list", move |conn| {
                grants::list_for_resource(conn, tenant_id, object)
            })
            .await?;
        let data: Vec<Value> = shares
            .iter()
            .map(|share| self.share_object(id, share))
            .collect();
        Ok(HttpResponse::Ok().json(json!({
            "object": "list",
            "first_id": shares.first().map(|share| share.subject.clone()),
            "last_id": shares.last().map(|share| share.subject.clone()),
            "has_more": false,
            "data": data,
        })))
    }

    async fn revoke(&self, id: &str, subject: &str) -> Result<HttpResponse, ApiError> {
        let resource = self.object(id).await?;
        let subject = subject.trim();
        let (tenant_id, object, named) =
            (self.caller.tenant.id, resource.facts.id, subject.to_owned());
        let revoked: Option<UserId> = self
            .state
            .database
            .transaction("shares.revoke", move |conn| {
                let grantee = match users::find_by_subject(conn, tenant_id, &named) {
                    Ok(user) => user.id,
                    Err(StorageError::NotFound) => return Ok(None),
                    Err(error) => return Err(error),
                };
                let revoked = grants::revoke(conn, tenant_id, object, grantee)?;
                grants::forget_if_unseen(conn, tenant_id, grantee)?;
                Ok(revoked.then_some(grantee))
            })
            .await?;
        let Some(grantee) = revoked else {
            return Err(ApiError::not_found(format!(
                "No share of this {} with user '{subject}'.",
                self.kind.noun()
            )));
        };
        self.audit(
            "share_revoke",
            &resource,
            json!({"grantee_user_id": grantee.to_string()}),
        );
        Ok(HttpResponse::Ok().json(json!({
            "object": format!("{}.share.deleted", self.kind.as_str()),
            "user": subject,
            "deleted": true,
        })))
    }
}

/// The three routes of one shareable kind.
macro_rules! share_routes {
    ($kind:expr, $tag:literal, $noun:literal, $param:ident,
     $create:ident, $create_path:literal, $create_op:literal,
     $list:ident, $list_op:literal,
     $revoke:ident, $revoke_path:literal, $revoke_op:literal) => {
        #[doc = concat!("Shares a ", $noun, " of the caller's with another user of the tenant, or changes their permission.")]
        #[utoipa::path(
            tag = $tag,
            operation_id = $create_op,
            security(("bearer" = []), ("api_key" = [])),
            request_body = ShareRequest,
            responses(
                (status = 200, description = "The share"),
                (status = 400, description = "A malformed body, the caller themselves, or too many shares", body = ErrorBody),
                (status = 403, description = "A user the object is shared with: only its owner shares", body = ErrorBody),
                (status = 404, description = "No such object of the caller's", body = ErrorBody)
            )
        )]
        #[post($create_path)]
        pub async fn $create(
            state: web::Data<AppState>,
            caller: Caller,
            request_id: RequestId,
            $param: web::Path<String>,
            body: web::Json<ShareRequest>,
        ) -> Result<HttpResponse, ApiError> {
            let shares = Shares { state: &state, caller: &caller, request_id: &request_id, kind: $kind };
            shares.create(&$param, body.into_inner()).await
        }

        #[doc = concat!("Lists whom a ", $noun, " of the caller's is shared with, oldest share first.")]
        #[utoipa::path(
            tag = $tag,
            operation_id = $list_op,
            security(("bearer" = []), ("api_key" = [])),
            responses(
                (status = 200, description = "The object's shares"),
                (status = 403, description = "A user the object is shared with: only its owner lists its shares", body = ErrorBody),
                (status = 404, description = "No such object of the caller's", body = ErrorBody)
            )
        )]
        #[get($create_path)]
        pub async fn $list(
            state: web::Data<AppState>,
            caller: Caller,
            request_id: RequestId,
            $param: web::Path<String>,
        ) -> Result<HttpResponse, ApiError> {
            let shares = Shares { state: &state, caller: &caller, request_id: &request_id, kind: $kind };
            shares.list(&$param).await
        }

        #[doc = concat!("Revokes a user's share of a ", $noun, " of the caller's: from their next request, on every replica, the object is unknown to them, and an open stream of theirs on it ends.")]
        #[utoipa::path(
            tag = $tag,
            operation_id = $revoke_op,
            security(("bearer" = []), ("api_key" = [])),
            responses(
                (status = 200, description = "The share is revoked"),
                (status = 403, description = "A user the object is shared with: only its owner revokes", body = ErrorBody),
                (status = 404, description = "No such object of the caller's, or no share with that user", body = ErrorBody)
            )
        )]
        #[delete($revoke_path)]
        pub async fn $revoke(
            state: web::Data<AppState>,
            caller: Caller,
            request_id: RequestId,
            path: web::Path<(String, String)>,
        ) -> Result<HttpResponse, ApiError> {
            let (id, user) = path.into_inner();
            let shares = Shares { state: &state, caller: &caller, request_id: &request_id, kind: $kind };
            shares.revoke(&id, &user).await
        }
    };
}

share_routes!(
    ResourceKind::Thread,
    "Threads",
    "thread",
    thread_id,
    share_thread,
    "/v1/threads/{thread_id}/shares",
    "createThreadShare",
    list_thread_shares,
    "listThreadShares",
    revoke_thread_share,
    "/v1/threads/{thread_id}/shares/{user}",
    "deleteThreadShare"
);

share_routes!(
    ResourceKind::Conversation,
    "Conversations",
    "conversation",
    conversation_id,
    share_conversation,
    "/v1/conversations/{conversation_id}/shares",
    "createConversationShare",
    list_conversation_shares,
    "listConversationShares",
    revoke_conversation_share,
    "/v1/conversations/{conversation_id}/shares/{user}",
    "deleteConversationShare"
);
