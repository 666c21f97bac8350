//! What is being asked about: upstream objects Threadgate knows, and the facts
//! about one of them that the authorization decision needs.

use std::str::FromStr;

use crate::{DomainError, ResourceId, TenantId, UserId};

/// The kinds of upstream object Threadgate records ownership of.
///
/// Messages, runs and run steps are not kinds of their own: they live inside a
/// thread and are authorized through it. Newer upstream APIs add kinds here
/// (their rules go in [`crate::authorize`]) rather than new mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Assistant,
    Thread,
    File,
    VectorStore,
    /// A conversation of the Conversations API, the Assistants API's successor.
    Conversation,
    /// A stored response of the Responses API.
    Response,
    /// A code interpreter's sandbox and its files.
    Container,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 7] = [
        ResourceKind::Assistant,
        ResourceKind::Thread,
        ResourceKind::File,
        ResourceKind::VectorStore,
        ResourceKind::Conversation,
        ResourceKind::Response,
        ResourceKind::Container,
    ];

    /// Whether an owner may share it with another user of the tenant: the
    /// conversation state users write together.
    pub const fn is_shareable(self) -> bool {
        matches!(self, ResourceKind::Thread | ResourceKind::Conversation)
    }

    /// The spelling stored in the database and written to the audit trail.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Assistant => "assistant",
            ResourceKind::Thread => "thread",
            ResourceKind::File => "file",
            ResourceKind::VectorStore => "vector_store",
            ResourceKind::Conversation => "conversation",
            ResourceKind::Response => "response",
            ResourceKind::Container => "container",
        }
    }

    /// The noun the upstream's messages use, e.g. `vector store`.
    pub const fn noun(self) -> &'static str {
        match self {
            ResourceKind::Assistant => "assistant",
            ResourceKind::Thread => "thread",
            ResourceKind::File => "file",
            ResourceKind::VectorStore => "vector store",
            ResourceKind::Conversation => "conversation",
            ResourceKind::Response => "response",
            ResourceKind::Container => "container",
        }
    }

    /// The noun with its indefinite article, e.g. `an assistant`.
    pub const fn with_article(self) -> &'static str {
        match self {
            ResourceKind::Assistant => "an assistant",
            ResourceKind::Thread => "a thread",
            ResourceKind::File => "a file",
            ResourceKind::VectorStore => "a vector store",
            ResourceKind::Conversation => "a conversation",
            ResourceKind::Response => "a response",
            ResourceKind::Container => "a container",
        }
    }

    /// The `object` of the upstream's answer to a delete.
    pub const fn deleted_object(self) -> &'static str {
        match self {
            ResourceKind::Assistant => "assistant.deleted",
            ResourceKind::Thread => "thread.deleted",
            ResourceKind::File => "file",
            ResourceKind::VectorStore => "vector_store.deleted",
            ResourceKind::Conversation => "conversation.deleted",
            ResourceKind::Response => "response.deleted",
            ResourceKind::Container => "container.deleted",
        }
    }

    /// Whether the upstream keeps `metadata` on objects of this kind, where
    /// Threadgate stamps the id of the row an object was created for.
    pub const fn has_metadata(self) -> bool {
        !matches!(self, ResourceKind::File | ResourceKind::Container)
    }

    /// Conversation state is private to the user who created it.
    pub const fn is_conversation_state(self) -> bool {
        matches!(
            self,
            ResourceKind::Thread | ResourceKind::Conversation | ResourceKind::Response
        )
    }
}

impl FromStr for ResourceKind {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| DomainError::UnknownResourceKind(s.to_owned()))
    }
}

/// Where a resource is in its life. Only [`LifecycleState::Active`] resources
/// can be acted on; the others exist so that a crash between writing our row
/// and calling the upstream leaves a state that can be reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    /// Recorded, but the upstream has not (yet) confirmed the object exists.
    Pending,
    Active,
    /// Deletion began; the upstream may or may not have deleted it yet.
    Deleting,
    Deleted,
}

impl LifecycleState {
    pub const ALL: [LifecycleState; 4] = [
        LifecycleState::Pending,
        LifecycleState::Active,
        LifecycleState::Deleting,
        LifecycleState::Deleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Pending => "pending",
            LifecycleState::Active => "active",
            LifecycleState::Deleting => "deleting",
            LifecycleState::Deleted => "deleted",
        }
    }
}

impl FromStr for LifecycleState {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LifecycleState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| DomainError::UnknownLifecycleState(s.to_owned()))
    }
}

/// Who a resource belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// One end-user: their threads, uploads and vector stores.
    User(UserId),
    /// The tenant as a whole: its assistants and their knowledge files.
    Tenant,
}

/// A right to a resource shared with another user of the same tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub grantee: UserId,
    pub permission: Permission,
    /// Held on the resource's parent (the thread a run's output file was
    /// made for), not on the resource itself: it lets the grantee read what
    /// the shared object made, never change it.
    pub through_parent: bool,
}

/// What a [`Grant`] allows. Deleting is never granted: it stays with the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Read the object and its contents.
    Read,
    /// Read, change and use the object (post messages, run the thread).
    Write,
}

impl Permission {
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
        }
    }
}

impl FromStr for Permission {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Permission::Read),
            "write" => Ok(Permission::Write),
            other => Err(DomainError::UnknownPermission(other.to_owned())),
        }
    }
}

/// Everything the decision needs to know about one existing resource, as
/// loaded by storage in one indexed lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFacts {
    pub id: ResourceId,
    pub tenant_id: TenantId,
    pub kind: ResourceKind,
    pub owner: Owner,
    pub state: LifecycleState,
    /// Grants on this resource. Storage may load only the caller's; the
    /// decision checks the grantee either way.
    pub grants: Vec<Grant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_states_round_trip_through_their_stored_spelling() {
        for kind in ResourceKind::ALL {
            assert_eq!(kind.as_str().parse::<ResourceKind>().unwrap(), kind);
        }
        for state in LifecycleState::ALL {
            assert_eq!(state.as_str().parse::<LifecycleState>().unwrap(), state);
        }
        assert!("threads".parse::<ResourceKind>().is_err());
        assert!("gone".parse::<LifecycleState>().is_err());
    }
}
