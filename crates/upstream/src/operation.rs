//! Every Assistants API operation the client performs: its method, its path
//! template (the same on both flavours), and whether repeating it is safe.

use domain::{ResourceKind, UpstreamId};
use reqwest::Method;

macro_rules! operations {
    ($($name:ident => $method:ident $template:literal $safety:ident,)*) => {
        /// One upstream operation. The path template names its ids in order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($name,)*
        }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$name,)*];

            pub fn method(self) -> Method {
                match self {
                    $(Operation::$name => Method::$method,)*
                }
            }

            /// The path template, e.g. `/threads/{thread_id}/runs`; also the
            /// span name of calls, so traces group by operation, not by id.
            pub const fn template(self) -> &'static str {
                match self {
                    $(Operation::$name => $template,)*
                }
            }

            /// Whether sending it twice could do something twice. Such
            /// requests are never retried once they may have been sent.
            pub const fn changes_state(self) -> bool {
                match self {
                    $(Operation::$name => Safety::$safety.changes_state(),)*
                }
            }
        }
    };
}

enum Safety {
    Read,
    Write,
}

impl Safety {
    const fn changes_state(self) -> bool {
        matches!(self, Safety::Write)
    }
}

operations! {
    ListAssistants => GET "/assistants" Read,
    CreateAssistant => POST "/assistants" Write,
    GetAssistant => GET "/assistants/{assistant_id}" Read,
    ModifyAssistant => POST "/assistants/{assistant_id}" Write,
    DeleteAssistant => DELETE "/assistants/{assistant_id}" Write,
    CreateThread => POST "/threads" Write,
    CreateThreadAndRun => POST "/threads/runs" Write,
    GetThread => GET "/threads/{thread_id}" Read,
    ModifyThread => POST "/threads/{thread_id}" Write,
    DeleteThread => DELETE "/threads/{thread_id}" Write,
    ListMessages => GET "/threads/{thread_id}/messages" Read,
    CreateMessage => POST "/threads/{thread_id}/messages" Write,
    GetMessage => GET "/threads/{thread_id}/messages/{message_id}" Read,
    ModifyMessage => POST "/threads/{thread_id}/messages/{message_id}" Write,
    DeleteMessage => DELETE "/threads/{thread_id}/messages/{message_id}" Write,
    ListRuns => GET "/threads/{thread_id}/runs" Read,
    CreateRun => POST "/threads/{thread_id}/runs" Write,
    GetRun => GET "/threads/{thread_id}/runs/{run_id}" Read,
    ModifyRun => POST "/threads/{thread_id}/runs/{run_id}" Write,
    SubmitToolOutputs => POST "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs" Write,
    CancelRun => POST "/threads/{thread_id}/runs/{run_id}/cancel" Write,
    ListRunSteps => GET "/threads/{thread_id}/runs/{run_id}/steps" Read,
    GetRunStep => GET "/threads/{thread_id}/runs/{run_id}/steps/{step_id}" Read,
    ListFiles => GET "/files" Read,
    UploadFile => POST "/files" Write,
    GetFile => GET "/files/{file_id}" Read,
    DeleteFile => DELETE "/files/{file_id}" Write,
    GetFileContent => GET "/files/{file_id}/content" Read,
    ListVectorStores => GET "/vector_stores" Read,
    CreateVectorStore => POST "/vector_stores" Write,
    GetVectorStore => GET "/vector_stores/{vector_store_id}" Read,
    ModifyVectorStore => POST "/vector_stores/{vector_store_id}" Write,
    DeleteVectorStore => DELETE "/vector_stores/{vector_store_id}" Write,
    SearchVectorStore => POST "/vector_stores/{vector_store_id}/search" Read,
    ListVectorStoreFiles => GET "/vector_stores/{vector_store_id}/files" Read,
    CreateVectorStoreFile => POST "/vector_stores/{vector_store_id}/files" Write,
    GetVectorStoreFile => GET "/vector_stores/{vector_store_id}/files/{file_id}" Read,
    UpdateVectorStoreFileAttributes => POST "/vector_stores/{vector_store_id}/files/{file_id}" Write,
    DeleteVectorStoreFile => DELETE "/vector_stores/{vector_store_id}/files/{file_id}" Write,
    GetVectorStoreFileContent => GET "/vector_stores/{vector_store_id}/files/{file_id}/content" Read,
    CreateFileBatch => POST "/vector_stores/{vector_store_id}/file_batches" Write,
    GetFileBatch => GET "/vector_stores/{vector_store_id}/file_batches/{batch_id}" Read,
    CancelFileBatch => POST "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel" Write,
    ListFileBatchFiles => GET "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files" Read,
    ListModels => GET "/models" Read,
    CreateConversation => POST "/conversations" Write,
    GetConversation => GET "/conversations/{conversation_id}" Read,
    UpdateConversation => POST "/conversations/{conversation_id}" Write,
    DeleteConversation => DELETE "/conversations/{conversation_id}" Write,
    CreateConversationItems => POST "/conversations/{conversation_id}/items" Write,
    ListConversationItems => GET "/conversations/{conversation_id}/items" Read,
    GetConversationItem => GET "/conversations/{conversation_id}/items/{item_id}" Read,
    DeleteConversationItem => DELETE "/conversations/{conversation_id}/items/{item_id}" Write,
    CreateResponse => POST "/responses" Write,
    CountInputTokens => POST "/responses/input_tokens" Read,
    CompactResponse => POST "/responses/compact" Read,
    GetResponse => GET "/responses/{response_id}" Read,
    DeleteResponse => DELETE "/responses/{response_id}" Write,
    CancelResponse => POST "/responses/{response_id}/cancel" Write,
    ListInputItems => GET "/responses/{response_id}/input_items" Read,
    CreateContainer => POST "/containers" Write,
    ListContainers => GET "/containers" Read,
    GetContainer => GET "/containers/{container_id}" Read,
    DeleteContainer => DELETE "/containers/{container_id}" Write,
    CreateContainerFile => POST "/containers/{container_id}/files" Write,
    ListContainerFiles => GET "/containers/{container_id}/files" Read,
    GetContainerFile => GET "/containers/{container_id}/files/{file_id}" Read,
    DeleteContainerFile => DELETE "/containers/{container_id}/files/{file_id}" Write,
    GetContainerFileContent => GET "/containers/{container_id}/files/{file_id}/content" Read,
}

impl Operation {
    /// Whether it belongs to the Responses and Conversations APIs (and their
    /// containers), which
    /// Azure serves at its v1 paths (`/openai/v1/...`, no `api-version`)
    /// rather than beside the Assistants API.
    pub const fn is_responses_api(self) -> bool {
        use Operation as O;
        matches!(
            self,
            O::CreateConversation
                | O::GetConversation
                | O::UpdateConversation
                | O::DeleteConversation
                | O::CreateConversationItems
                | O::ListConversationItems
                | O::GetConversationItem
                | O::DeleteConversationItem
                | O::CreateResponse
                | O::CountInputTokens
                | O::CompactResponse
                | O::GetResponse
                | O::DeleteResponse
                | O::CancelResponse
                | O::ListInputItems
                | O::CreateContainer
                | O::ListContainers
                | O::GetContainer
                | O::DeleteContainer
                | O::CreateContainerFile
                | O::ListContainerFiles
                | O::GetContainerFile
                | O::DeleteContainerFile
                | O::GetContainerFileContent
        )
    }
}

/// The operations that read and delete one object of a kind Threadgate
/// records: one table that the gateway and the reconciler both read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindOperations {
    pub get: Operation,
    pub delete: Operation,
    /// Lists every object of the kind in the upstream project (never
    /// served to callers: it shows every tenant's); `None` where the
    /// upstream cannot list the kind (threads).
    pub list: Option<Operation>,
}

impl Operation {
    /// How the upstream reads and deletes an object of `kind`; `None` for
    /// kinds this surface does not serve.
    pub const fn for_kind(kind: ResourceKind) -> Option<KindOperations> {
        use Operation as Op;
        let (get, delete, list) = match kind {
            ResourceKind::Assistant => (
                Op::GetAssistant,
                Op::DeleteAssistant,
                Some(Op::ListAssistants),
            ),
            ResourceKind::Thread => (Op::GetThread, Op::DeleteThread, None),
            ResourceKind::File => (Op::GetFile, Op::DeleteFile, Some(Op::ListFiles)),
            ResourceKind::VectorStore => (
                Op::GetVectorStore,
                Op::DeleteVectorStore,
                Some(Op::ListVectorStores),
            ),
            ResourceKind::Conversation => (Op::GetConversation, Op::DeleteConversation, None),
            ResourceKind::Response => (Op::GetResponse, Op::DeleteResponse, None),
            ResourceKind::Container => (
                Op::GetContainer,
                Op::DeleteContainer,
                Some(Op::ListContainers),
            ),
        };
        Some(KindOperations { get, delete, list })
    }

    /// The template with `ids` substituted in order. Ids are [`UpstreamId`]s,
    /// so they cannot carry `/`, `?` or `%` into the path.
    pub fn path(self, ids: &[&UpstreamId]) -> Result<String, String> {
        let template = self.template();
        let mut path = String::with_capacity(template.len() + 32);
        let mut ids = ids.iter();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .map(|offset| open + offset)
                .ok_or_else(|| format!("malformed template {template}"))?;
            path.push_str(&rest[..open]);
            let id = ids
                .next()
                .ok_or_else(|| format!("{self:?} needs {}", &rest[open + 1..close]))?;
            path.push_str(id.as_str());
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        if ids.next().is_some() {
            return Err(format!("{self:?} was given more ids than {template} names"));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> UpstreamId {
        UpstreamId::parse(raw).unwrap()
    }

    #[test]
    fn paths_fill_templates_in_order() {
        assert_eq!(
            Operation::GetRunStep
                .path(&[&id("thread_1"), &id("run_2"), &id("step_3")])
                .unwrap(),
            "/threads/thread_1/runs/run_2/steps/step_3"
        );
        assert_eq!(Operation::ListFiles.path(&[]).unwrap(), "/files");
        assert!(Operation::GetThread.path(&[]).is_err());
        assert!(Operation::ListFiles.path(&[&id("file-1")]).is_err());
    }

    #[test]
    fn reads_are_safe_and_writes_are_not() {
        assert!(!Operation::GetRun.changes_state());
        assert!(!Operation::SearchVectorStore.changes_state());
        assert!(Operation::CreateThread.changes_state());
        assert!(Operation::CancelRun.changes_state());
        assert!(!Operation::ListModels.changes_state());
    }

    #[test]
    fn each_served_kind_is_read_and_deleted_by_its_own_id() {
        for kind in ResourceKind::ALL {
            let Some(operations) = Operation::for_kind(kind) else {
                continue;
            };
            assert_eq!(operations.get.method(), Method::GET, "{kind:?}");
            assert_eq!(operations.delete.method(), Method::DELETE, "{kind:?}");
            assert_eq!(operations.get.template(), operations.delete.template());
            assert_eq!(operations.get.template().matches('{').count(), 1);
            if let Some(list) = operations.list {
                assert_eq!(list.method(), Method::GET, "{kind:?}");
                let below = format!("{}/", list.template());
                assert!(operations.get.template().starts_with(&below), "{kind:?}");
            }
        }
        assert!(Operation::for_kind(ResourceKind::Thread).is_some());
    }
}
