//! What the caller wants to do with a resource.

/// An operation on a resource, as the authorization decision sees it. Routes map
/// their HTTP method and path onto one of these for every resource they name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create a new resource of a kind (see [`crate::Target::NewOf`]).
    Create,
    /// Read the object and, for a thread, its messages, runs and run steps.
    Read,
    /// Read a file's bytes. Separate from [`Action::Read`] because tenant
    /// knowledge files are usable in runs but never downloadable by members.
    ReadContent,
    /// Add to the object without changing what is there: a message or a
    /// run to a thread, items to a conversation, tool outputs to a run
    /// waiting for them, a run's cancellation. What a `write` share allows.
    Append,
    /// Change the object or what it holds (its metadata and tool
    /// resources, a message, an item; a file to a vector store).
    Update,
    /// Delete the object.
    Delete,
    /// Name the object in a request about another object: run an assistant,
    /// attach a file, search a vector store from a thread.
    Use,
    /// Share the object with another user of the tenant, list or revoke its
    /// shares: its owner's alone.
    Share,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Read => "read",
            Action::ReadContent => "read_content",
            Action::Append => "append",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Use => "use",
            Action::Share => "share",
        }
    }
}
