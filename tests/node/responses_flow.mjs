// The `openai` package for Node, its Responses and Conversations clients
// pointed at Threadgate: a chain, a stream, a function call, a background
// response cancelled, a conversation with its items, deletes; another user
// reaches none of it.
import assert from "node:assert/strict";
import OpenAI, { NotFoundError, toFile } from "openai";

const baseURL = `${process.env.THREADGATE_URL}/v1`;
const alice = new OpenAI({ baseURL, apiKey: process.env.ALICE_TOKEN, maxRetries: 0 });
const bob = new OpenAI({ baseURL, apiKey: process.env.BOB_TOKEN, maxRetries: 0 });

async function refused(attempt) {
  await assert.rejects(attempt, (error) => error instanceof NotFoundError);
}

const first = await alice.responses.create({ model: "gpt-4o", input: "Hello from Node" });
assert.equal(first.status, "completed");
assert.match(first.output_text, /Hello from Node/);
const second = await alice.responses.create({
  model: "gpt-4o",
  input: "#recall",
  previous_response_id: first.id,
});
assert.match(second.output_text, /Hello from Node/);

const stream = alice.responses.stream({ model: "gpt-4o", input: "stream from Node" });
let streamedText = "";
for await (const event of stream) {
  if (event.type === "response.output_text.delta") streamedText += event.delta;
}
const streamed = await stream.finalResponse();
assert.equal(streamedText, "You said: stream from Node");
assert.equal((await alice.responses.retrieve(streamed.id)).id, streamed.id);

const tools = [{ type: "function", name: "lookup_order", parameters: { type: "object", properties: {} }, strict: false }];
const asked = await alice.responses.create({ model: "gpt-4o", input: "please lookup_order 42", tools });
const [call] = asked.output;
assert.equal(call.type, "function_call");
const answered = await alice.responses.create({
  model: "gpt-4o",
  previous_response_id: asked.id,
  tools,
  input: [{ type: "function_call_output", call_id: call.call_id, output: "shipped" }],
});
assert.match(answered.output_text, /shipped/);

const background = await alice.responses.create({ model: "gpt-4o", input: "#slow", background: true });
await refused(bob.responses.cancel(background.id));
assert.equal((await alice.responses.cancel(background.id)).status, "cancelled");

const conversation = await alice.conversations.create({
  items: [{ role: "user", content: "Remember the blue door." }],
});
const reply = await alice.responses.create({ model: "gpt-4o", input: "#recall", conversation: conversation.id });
assert.match(reply.output_text, /blue door/);
const items = await alice.conversations.items.list(conversation.id, { order: "asc" });
assert.equal(items.data.length, 3);

// Code interpreter writes a file into a new container of alice's; she
// downloads it; file_search reads her vector store.
const csv = await alice.files.create({
  file: await toFile(Buffer.from("a,b\n1,2\n"), "data.csv"),
  purpose: "user_data",
});
const charted = await alice.responses.create({
  model: "gpt-4o",
  input: "chart it #output-file",
  tools: [{ type: "code_interpreter", container: { type: "auto", file_ids: [csv.id] } }],
});
const interpreted = charted.output.find((item) => item.type === "code_interpreter_call");
const [citation] = charted.output.find((item) => item.type === "message").content[0].annotations;
assert.equal(citation.type, "container_file_citation");
const chart = await alice.containers.files.content.retrieve(citation.file_id, {
  container_id: interpreted.container_id,
});
const png = new Uint8Array(await chart.arrayBuffer());
assert.deepEqual([...png.slice(1, 4)], [0x50, 0x4e, 0x47]);
await refused(bob.containers.retrieve(interpreted.container_id));
const store = await alice.vectorStores.create({ name: "kb", file_ids: [csv.id] });
const searched = await alice.responses.create({
  model: "gpt-4o",
  input: "what is in data.csv?",
  tools: [{ type: "file_search", vector_store_ids: [store.id] }],
});
assert.equal(searched.status, "completed");
await refused(
  bob.responses.create({ model: "gpt-4o", input: "x", tools: [{ type: "file_search", vector_store_ids: [store.id] }] }),
);

await refused(bob.responses.retrieve(first.id));
await refused(bob.responses.create({ model: "gpt-4o", input: "x", previous_response_id: first.id }));
await refused(bob.conversations.retrieve(conversation.id));
await refused(bob.responses.create({ model: "gpt-4o", input: "x", conversation: conversation.id }));

await alice.responses.delete(first.id);
await refused(alice.responses.retrieve(first.id));
assert.ok((await alice.conversations.delete(conversation.id)).deleted);
console.log("node responses flow: ok");
