// Azure's client from the `openai` package, pointed at Threadgate's Azure
// surface: the whole flow with an api-key (a backend acting for alice) and
// with a token provider; another user sees none of it.
import assert from "node:assert/strict";
import { AzureOpenAI, NotFoundError, toFile } from "openai";

const endpoint = process.env.THREADGATE_URL;
const apiVersion = "2025-04-01-preview";
const assistantId = process.env.ASSISTANT_ID;

const clients = {
  apiKey: new AzureOpenAI({
    endpoint,
    apiVersion,
    apiKey: process.env.BACKEND_KEY,
    defaultHeaders: { "Threadgate-On-Behalf-Of": "alice" },
    maxRetries: 0,
  }),
  azureADTokenProvider: new AzureOpenAI({
    endpoint,
    apiVersion,
    azureADTokenProvider: async () => process.env.ALICE_TOKEN,
    maxRetries: 0,
  }),
};
const bob = new AzureOpenAI({
  endpoint,
  apiVersion,
  azureADTokenProvider: async () => process.env.BOB_TOKEN,
  maxRetries: 0,
});

async function refused(attempt) {
  await assert.rejects(attempt, (error) => error instanceof NotFoundError);
}

for (const [credential, client] of Object.entries(clients)) {
  const assistants = await client.beta.assistants.list();
  assert.ok(assistants.data.some((a) => a.id === assistantId), credential);

  const thread = await client.beta.threads.create({ metadata: { topic: "node" } });
  await client.beta.threads.messages.create(thread.id, { role: "user", content: "Hello from Node" });
  const run = await client.beta.threads.runs.createAndPoll(
    thread.id,
    { assistant_id: assistantId },
    { pollIntervalMs: 20 },
  );
  assert.equal(run.status, "completed", credential);

  await client.beta.threads.messages.create(thread.id, { role: "user", content: "and stream this" });
  let text = "";
  const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistantId });
  stream.on("textDelta", (delta) => {
    text += delta.value ?? "";
  });
  await stream.finalRun();
  assert.ok(text.includes("and stream this"), `${credential}: ${text}`);

  const file = await client.files.create({
    file: await toFile(Buffer.from("Refunds take five days."), "faq.md"),
    purpose: "assistants",
  });
  const store = await client.vectorStores.create({ name: "faq", file_ids: [file.id] });
  const inStore = await client.vectorStores.files.list(store.id);
  assert.deepEqual(inStore.data.map((f) => f.id), [file.id]);

  await refused(() => bob.beta.threads.retrieve(thread.id));
  await refused(() => bob.files.retrieve(file.id));
  await refused(() => bob.vectorStores.retrieve(store.id));

  assert.ok((await client.vectorStores.delete(store.id)).deleted);
  assert.ok((await client.files.delete(file.id)).deleted);
  assert.ok((await client.beta.threads.delete(thread.id)).deleted);
  await refused(() => client.beta.threads.retrieve(thread.id));
  console.log(`${credential}: the whole flow passed`);
}
