//! Every operation, on both flavours, against the emulator.

// These tests exercise the client itself.
#![allow(clippy::disallowed_methods)]
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;

use domain::UpstreamId;
use serde_json::{Value, json};
use upstream::wire::{
    Assistant, Deleted, File, FileBatch, Message, Page, Run, RunStep, Thread, VectorStore,
    VectorStoreFile,
};
use upstream::{FileUpload, Flavour, Operation, RequestBody, UpstreamClient, UpstreamRequest};

fn id(raw: &str) -> UpstreamId {
    UpstreamId::parse(raw).expect("a valid id")
}

/// Calls `operation` and remembers that it was exercised.
struct Exerciser<'a> {
    client: &'a UpstreamClient,
    seen: HashSet<Operation>,
}

impl Exerciser<'_> {
    async fn call<T: serde::de::DeserializeOwned>(&mut self, request: UpstreamRequest<'_>) -> T {
        self.seen.insert(request.operation);
        let operation = request.operation;
        self.client
            .call(request)
            .await
            .unwrap_or_else(|error| panic!("{operation:?}: {error}"))
    }
}

async fn every_operation(flavour: Flavour) {
    let emulator = support::emulator();
    let client = support::client(support::profile(&emulator, flavour));
    let mut ex = Exerciser {
        client: &client,
        seen: HashSet::new(),
    };

    let upload = |name: &str, text: &'static str| UpstreamRequest {
        operation: Operation::UploadFile,
        ids: &[],
        query: Vec::new(),
        body: RequestBody::File(FileUpload {
            purpose: "assistants".to_owned(),
            filename: name.to_owned(),
            content_type: Some("text/plain".to_owned()),
            content: bytes::Bytes::from_static(text.as_bytes()),
        }),
        user_isolation_key: None,
    };
    let file: File = ex
        .call(upload("notes.txt", "Refunds take five days."))
        .await;
    assert_eq!(file.bytes, Some(23));
    let file_id = id(&file.id);
    let files: Page<File> = ex
        .call(UpstreamRequest::new(Operation::ListFiles, &[]))
        .await;
    assert!(files.data.iter().any(|f| f.id == file.id));
    let fetched: File = ex
        .call(UpstreamRequest::new(Operation::GetFile, &[&file_id]))
        .await;
    assert_eq!(fetched.filename, "notes.txt");
    ex.seen.insert(Operation::GetFileContent);
    let content = client
        .raw(UpstreamRequest::new(Operation::GetFileContent, &[&file_id]))
        .await
        .unwrap();
    assert_eq!(content.bytes().await.unwrap(), "Refunds take five days.");

    let store: VectorStore = ex
        .call(UpstreamRequest::new(Operation::CreateVectorStore, &[]).json(json!({"name": "faq"})))
        .await;
    let vs = id(&store.id);
    let _: Page<VectorStore> = ex
        .call(UpstreamRequest::new(Operation::ListVectorStores, &[]))
        .await;
    let _: VectorStore = ex
        .call(UpstreamRequest::new(Operation::GetVectorStore, &[&vs]))
        .await;
    let _: VectorStore = ex
        .call(
            UpstreamRequest::new(Operation::ModifyVectorStore, &[&vs])
                .json(json!({"name": "faq 2"})),
        )
        .await;
    let added: VectorStoreFile = ex
        .call(
            UpstreamRequest::new(Operation::CreateVectorStoreFile, &[&vs])
                .json(json!({"file_id": file.id})),
        )
        .await;
    assert_eq!(added.vector_store_id, store.id);
    let _: Page<VectorStoreFile> = ex
        .call(UpstreamRequest::new(
            Operation::ListVectorStoreFiles,
            &[&vs],
        ))
        .await;
    let _: VectorStoreFile = ex
        .call(UpstreamRequest::new(
            Operation::GetVectorStoreFile,
            &[&vs, &file_id],
        ))
        .await;
    let _: VectorStoreFile = ex
        .call(
            UpstreamRequest::new(Operation::UpdateVectorStoreFileAttributes, &[&vs, &file_id])
                .json(json!({"attributes": {"lang": "en"}})),
        )
        .await;
    let page: Value = ex
        .call(UpstreamRequest::new(
            Operation::GetVectorStoreFileContent,
            &[&vs, &file_id],
        ))
        .await;
    assert_eq!(page["data"][0]["text"], "Refunds take five days.");
    let found: Value = ex
        .call(
            UpstreamRequest::new(Operation::SearchVectorStore, &[&vs])
                .json(json!({"query": "refunds"})),
        )
        .await;
    assert_eq!(found["data"][0]["file_id"], file.id.as_str());
    let second: File = ex.call(upload("more.txt", "Shipping is free.")).await;
    let batch: FileBatch = ex
        .call(
            UpstreamRequest::new(Operation::CreateFileBatch, &[&vs])
                .json(json!({"file_ids": [second.id]})),
        )
        .await;
    let batch_id = id(&batch.id);
    let _: FileBatch = ex
        .call(UpstreamRequest::new(
            Operation::GetFileBatch,
            &[&vs, &batch_id],
        ))
        .await;
    let in_batch: Page<VectorStoreFile> = ex
        .call(UpstreamRequest::new(
            Operation::ListFileBatchFiles,
            &[&vs, &batch_id],
        ))
        .await;
    assert_eq!(in_batch.data.len(), 1);
    let _: FileBatch = ex
        .call(UpstreamRequest::new(
            Operation::CancelFileBatch,
            &[&vs, &batch_id],
        ))
        .await;

    let assistant: Assistant = ex
        .call(
            UpstreamRequest::new(Operation::CreateAssistant, &[]).json(json!({
                "model": "gpt-4o",
                "tools": [{"type": "function", "function": {"name": "get_weather"}}],
            })),
        )
        .await;
    let asst = id(&assistant.id);
    let _: Page<Assistant> = ex
        .call(UpstreamRequest::new(Operation::ListAssistants, &[]).query("limit", "1"))
        .await;
    let _: Assistant = ex
        .call(UpstreamRequest::new(Operation::GetAssistant, &[&asst]))
        .await;
    let modified: Assistant = ex
        .call(
            UpstreamRequest::new(Operation::ModifyAssistant, &[&asst])
                .json(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(modified.extra["name"], "renamed");

    let thread: Thread = ex
        .call(UpstreamRequest::new(Operation::CreateThread, &[]).json(json!({})))
        .await;
    let th = id(&thread.id);
    let _: Thread = ex
        .call(UpstreamRequest::new(Operation::GetThread, &[&th]))
        .await;
    let _: Thread = ex
        .call(
            UpstreamRequest::new(Operation::ModifyThread, &[&th])
                .json(json!({"metadata": {"a": "b"}})),
        )
        .await;
    let message: Message = ex
        .call(
            UpstreamRequest::new(Operation::CreateMessage, &[&th])
                .json(json!({"role": "user", "content": "hello there"})),
        )
        .await;
    let msg = id(&message.id);
    let _: Message = ex
        .call(UpstreamRequest::new(Operation::GetMessage, &[&th, &msg]))
        .await;
    let _: Message = ex
        .call(
            UpstreamRequest::new(Operation::ModifyMessage, &[&th, &msg])
                .json(json!({"metadata": {"x": "y"}})),
        )
        .await;

    // A streamed run, read to the end.
    ex.seen.insert(Operation::CreateRun);
    let mut stream = client
        .stream(
            UpstreamRequest::new(Operation::CreateRun, &[&th])
                .json(json!({"assistant_id": assistant.id, "stream": true})),
        )
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut run_id = None;
    while let Some(event) = futures_util::StreamExt::next(&mut stream).await {
        let event = event.unwrap();
        if event.event == "thread.run.created" {
            let run: Run = serde_json::from_str(&event.data).unwrap();
            run_id = Some(run.id);
        }
        names.push(event.event);
    }
    assert_eq!(
        names.first().map(String::as_str),
        Some("thread.run.created")
    );
    assert_eq!(names.last().map(String::as_str), Some("done"));
    let run = id(&run_id.unwrap());
    let finished: Run = ex
        .call(UpstreamRequest::new(Operation::GetRun, &[&th, &run]))
        .await;
    assert_eq!(finished.status, "completed");
    assert!(finished.usage.unwrap().total_tokens > 0);
    let _: Page<Run> = ex
        .call(UpstreamRequest::new(Operation::ListRuns, &[&th]))
        .await;
    let _: Run = ex
        .call(
            UpstreamRequest::new(Operation::ModifyRun, &[&th, &run])
                .json(json!({"metadata": {"k": "v"}})),
        )
        .await;
    let steps: Page<RunStep> = ex
        .call(UpstreamRequest::new(Operation::ListRunSteps, &[&th, &run]))
        .await;
    let step = id(&steps.data[0].id);
    let _: RunStep = ex
        .call(UpstreamRequest::new(
            Operation::GetRunStep,
            &[&th, &run, &step],
        ))
        .await;
    let replies: Page<Message> = ex
        .call(UpstreamRequest::new(Operation::ListMessages, &[&th]))
        .await;
    assert!(replies.data[0].text().contains("hello there"));

    // A tool call round trip, then a run that is cancelled.
    let run: Run = ex
        .call(
            UpstreamRequest::new(Operation::CreateThreadAndRun, &[]).json(json!({
                "assistant_id": assistant.id,
                "thread": {"messages": [{"role": "user", "content": "ask get_weather"}]},
            })),
        )
        .await;
    let (run_thread, run_id) = (id(&run.thread_id), id(&run.id));
    let waiting = poll_until(&client, &run_thread, &run_id, |run| {
        run.status == "requires_action"
    })
    .await;
    let call_id = waiting.pending_tool_call_ids().remove(0);
    let _: Run = ex
        .call(
            UpstreamRequest::new(Operation::SubmitToolOutputs, &[&run_thread, &run_id])
                .json(json!({"tool_outputs": [{"tool_call_id": call_id, "output": "sunny"}]})),
        )
        .await;
    poll_until(&client, &run_thread, &run_id, |run| {
        run.status == "completed"
    })
    .await;
    let slow: Run = client
        .call(
            UpstreamRequest::new(Operation::CreateRun, &[&th]).json(json!({
                "assistant_id": assistant.id,
                "additional_messages": [{"role": "user", "content": "#slow"}],
            })),
        )
        .await
        .unwrap();
    let cancelled: Run = ex
        .call(UpstreamRequest::new(
            Operation::CancelRun,
            &[&th, &id(&slow.id)],
        ))
        .await;
    assert_eq!(cancelled.status, "cancelling");

    let _: Deleted = ex
        .call(UpstreamRequest::new(Operation::DeleteMessage, &[&th, &msg]))
        .await;
    let _: Deleted = ex
        .call(UpstreamRequest::new(
            Operation::DeleteVectorStoreFile,
            &[&vs, &file_id],
        ))
        .await;
    let _: Deleted = ex
        .call(UpstreamRequest::new(Operation::DeleteVectorStore, &[&vs]))
        .await;
    let _: Deleted = ex
        .call(UpstreamRequest::new(Operation::DeleteThread, &[&th]))
        .await;
    let _: Deleted = ex
        .call(UpstreamRequest::new(Operation::DeleteAssistant, &[&asst]))
        .await;
    let deleted: Deleted = ex
        .call(UpstreamRequest::new(Operation::DeleteFile, &[&file_id]))
        .await;
    assert!(deleted.deleted);

    let models: Value = ex
        .call(UpstreamRequest::new(Operation::ListModels, &[]))
        .await;
    let first = &models["data"][0];
    assert!(first["id"].is_string(), "{models}");
    assert_eq!(first["object"], "model");

    // The Responses and Conversations APIs (Azure: its v1 paths).
    let conversation: Value = ex
        .call(
            UpstreamRequest::new(Operation::CreateConversation, &[])
                .json(json!({"items": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    let conv = id(conversation["id"].as_str().unwrap());
    let _: Value = ex
        .call(UpstreamRequest::new(Operation::GetConversation, &[&conv]))
        .await;
    let _: Value = ex
        .call(
            UpstreamRequest::new(Operation::UpdateConversation, &[&conv])
                .json(json!({"metadata": {"k": "v"}})),
        )
        .await;
    let added: Value = ex
        .call(
            UpstreamRequest::new(Operation::CreateConversationItems, &[&conv])
                .json(json!({"items": [{"role": "user", "content": "more"}]})),
        )
        .await;
    let item = id(added["data"][0]["id"].as_str().unwrap());
    let _: Value = ex
        .call(UpstreamRequest::new(
            Operation::ListConversationItems,
            &[&conv],
        ))
        .await;
    let _: Value = ex
        .call(UpstreamRequest::new(
            Operation::GetConversationItem,
            &[&conv, &item],
        ))
        .await;
    let _: Value = ex
        .call(UpstreamRequest::new(
            Operation::DeleteConversationItem,
            &[&conv, &item],
        ))
        .await;
    let response: Value = ex
        .call(
            UpstreamRequest::new(Operation::CreateResponse, &[]).json(
                json!({"model": "gpt-4o", "input": "#recall", "conversation": conv.as_str()}),
            ),
        )
        .await;
    assert!(
        response["output"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hi"),
        "{response}"
    );
    let resp = id(response["id"].as_str().unwrap());
    let _: Value = ex
        .call(UpstreamRequest::new(Operation::GetResponse, &[&resp]))
        .await;
    let _: Value = ex
        .call(UpstreamRequest::new(Operation::ListInputItems, &[&resp]))
        .await;
    let counted: Value = ex
        .call(
            UpstreamRequest::new(Operation::CountInputTokens, &[])
                .json(json!({"model": "gpt-4o", "input": "a b c"})),
        )
        .await;
    assert_eq!(counted["object"], "response.input_tokens");
    let _: Value = ex
        .call(
            UpstreamRequest::new(Operation::CompactResponse, &[])
                .json(json!({"model": "gpt-4o", "previous_response_id": resp.as_str()})),
        )
        .await;
    let background: Value = ex
        .call(
            UpstreamRequest::new(Operation::CreateResponse, &[])
                .json(json!({"model": "gpt-4o", "input": "#slow", "background": true})),
        )
        .await;
    let cancelled: Value = ex
        .call(UpstreamRequest::new(
            Operation::CancelResponse,
            &[&id(background["id"].as_str().unwrap())],
        ))
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    // A response's delete answers no body.
    let deleted: Value = ex
        .call(UpstreamRequest::new(Operation::DeleteResponse, &[&resp]))
        .await;
    assert!(deleted.is_null());
    let _: Value = ex
        .call(UpstreamRequest::new(
            Operation::DeleteConversation,
            &[&conv],
        ))
        .await;

    // Containers (code interpreter's sandboxes) and their files.
    let csv = id(&ex.call::<File>(upload("data.csv", "a,b")).await.id);
    let container: Value = ex
        .call(
            UpstreamRequest::new(Operation::CreateContainer, &[])
                .json(json!({"name": "sandbox", "file_ids": [csv.as_str()]})),
        )
        .await;
    let cntr = id(container["id"].as_str().unwrap());
    let _: Value = ex
        .call(UpstreamRequest::new(Operation::ListContainers, &[]))
        .await;
    let _: Value = ex
        .call(UpstreamRequest::new(Operation::GetContainer, &[&cntr]))
        .await;
    let copied: Value = ex
        .call(
            UpstreamRequest::new(Operation::CreateContainerFile, &[&cntr])
                .json(json!({"file_id": csv.as_str()})),
        )
        .await;
    let cfile = id(copied["id"].as_str().unwrap());
    let _: Value = ex
        .call(UpstreamRequest::new(
            Operation::ListContainerFiles,
            &[&cntr],
        ))
        .await;
    let _: Value = ex
        .call(UpstreamRequest::new(
            Operation::GetContainerFile,
            &[&cntr, &cfile],
        ))
        .await;
    ex.seen.insert(Operation::GetContainerFileContent);
    let content = client
        .raw(UpstreamRequest::new(
            Operation::GetContainerFileContent,
            &[&cntr, &cfile],
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&content[..], b"a,b");
    let _: Value = ex
        .call(UpstreamRequest::new(
            Operation::DeleteContainerFile,
            &[&cntr, &cfile],
        ))
        .await;
    let gone: Value = ex
        .call(UpstreamRequest::new(Operation::DeleteContainer, &[&cntr]))
        .await;
    assert!(gone.is_null());

    let missing: Vec<_> = Operation::ALL
        .iter()
        .filter(|op| !ex.seen.contains(op))
        .collect();
    assert!(missing.is_empty(), "never exercised: {missing:?}");
    emulator.stop().await;
}

/// Polls a run until `done` holds, as a caller of the API would.
async fn poll_until(
    client: &UpstreamClient,
    thread: &UpstreamId,
    run: &UpstreamId,
    done: impl Fn(&Run) -> bool,
) -> Run {
    for _ in 0..500 {
        let current: Run = client
            .call(UpstreamRequest::new(Operation::GetRun, &[thread, run]))
            .await
            .unwrap();
        if done(&current) {
            return current;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("run {run} never reached the expected state");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_works_on_azure() {
    every_operation(Flavour::Azure).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_works_on_openai() {
    every_operation(Flavour::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_works_on_a_foundry_project() {
    every_operation(Flavour::Foundry).await;
}
