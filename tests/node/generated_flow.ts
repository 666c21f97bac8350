// A TypeScript client generated from openapi/openapi.json (openapi-typescript's
// `paths`, called through openapi-fetch), compiled with `tsc --strict`, runs
// the flow against Threadgate: a thread, a message with plain string content,
// a run polled to its end, the answer read; another user gets the 404 body.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Message = components["schemas"]["MessageObject"];

const POLLS = 500; // 10 s at 20 ms

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

function textOf(message: Message): string {
  return message.content
    .map((part) => (part.type === "text" ? part.text.value : ""))
    .join("");
}

const baseUrl = need("THREADGATE_URL");
// JSON answers only: runs may also answer `text/event-stream` (with
// `stream: true`), which this client does not ask for.
type Json = "application/json";
const alice = createClient<paths, Json>({ baseUrl, headers: { Authorization: `Bearer ${need("ALICE_TOKEN")}` } });
const bob = createClient<paths, Json>({ baseUrl, headers: { Authorization: `Bearer ${need("BOB_TOKEN")}` } });

const { data: thread, error: threadError } = await alice.POST("/v1/threads", { body: {} });
if (!thread) throw new Error(`create thread: ${JSON.stringify(threadError)}`);
const onThread = { params: { path: { thread_id: thread.id } } };

const { data: message } = await alice.POST("/v1/threads/{thread_id}/messages", {
  ...onThread,
  body: { role: "user", content: "Hello, TypeScript" },
});
check(message !== undefined && textOf(message) === "Hello, TypeScript", "the message reads back");

const { data: started } = await alice.POST("/v1/threads/{thread_id}/runs", {
  ...onThread,
  body: { assistant_id: need("ASSISTANT_ID") },
});
if (!started) throw new Error("create run failed");
let status = started.status;
for (let poll = 0; poll < POLLS && (status === "queued" || status === "in_progress"); poll++) {
  await new Promise((resolve) => setTimeout(resolve, 20));
  const { data: run } = await alice.GET("/v1/threads/{thread_id}/runs/{run_id}", {
    params: { path: { thread_id: thread.id, run_id: started.id } },
  });
  if (!run) throw new Error("retrieve run failed");
  status = run.status;
}
check(status === "completed", `the run completed (${status})`);

const { data: listed } = await alice.GET("/v1/threads/{thread_id}/messages", {
  params: { path: { thread_id: thread.id }, query: { order: "asc" } },
});
if (!listed) throw new Error("list messages failed");
const roles = listed.data.map((m) => m.role).join(",");
check(roles === "user,assistant", `user then assistant (${roles})`);
check(textOf(listed.data[1]).includes("Hello, TypeScript"), "the assistant answered");

const refused = await bob.GET("/v1/threads/{thread_id}", onThread);
check(refused.response.status === 404, `another user gets 404 (${refused.response.status})`);
check(refused.error?.error.type === "invalid_request_error", "with the documented error body");
console.log(`generated TypeScript client: ${roles}`);
