import assert from "node:assert/strict";
import fc from "fast-check";
import { WorkerError } from "./errors.ts";
import { overlapScore, rerank, score } from "./scoring.ts";

const post = (path: string, body: unknown) =>
  new Request(`http://w${path}`, { method: "POST", body: JSON.stringify(body) });

Deno.test("the overlap score is the share of the query's words in the document, from 0 to 1", () => {
  fc.assert(fc.property(fc.string(), fc.string(), (query, document) => {
    const value = overlapScore(query, document);
    assert.ok(value >= 0 && value <= 1);
  }));
  assert.equal(overlapScore("Where is Paris?", "Paris is in France."), 2 / 3);
  assert.equal(overlapScore("red fox", "a red fox"), 1);
  assert.equal(overlapScore("red fox", "blue whale"), 0);
  assert.equal(overlapScore("", "anything"), 0);
});

Deno.test("rerank orders documents by score, best first, keeps their index and text, and cuts at top_n", async () => {
  const documents = ["blue whale", "the red fox jumps", "a red door"];
  const answer = await (await rerank(post("/v1/rerank", { model: "r", query: "red fox", documents }))).json();
  assert.deepEqual(
    answer.results.map((r: { index: number; relevance_score: number }) => [r.index, r.relevance_score]),
    [[1, 1], [2, 0.5], [0, 0]],
  );
  assert.equal(answer.results[0].document.text, "the red fox jumps");
  assert.equal(answer.usage.prompt_tokens, 2 * 3 + 2 + 4 + 3);
  const top = await (await rerank(post("/v2/rerank", { model: "r", query: "red fox", documents, top_n: 1 }))).json();
  assert.deepEqual(top.results.map((r: { index: number }) => r.index), [1]);
});

Deno.test("score pairs one text with each of the others, or both lists in order", async () => {
  const one = await (await score(post("/v1/score", { model: "s", text_1: "red fox", text_2: ["red", "fox red"] })))
    .json();
  assert.deepEqual(one.data.map((d: { score: number }) => d.score), [0.5, 1]);
  assert.equal(one.object, "list");
  const pairs = await (await score(post("/v1/score", { model: "s", text_1: ["a", "b"], text_2: ["a", "c"] }))).json();
  assert.deepEqual(pairs.data.map((d: { index: number; score: number }) => [d.index, d.score]), [[0, 1], [1, 0]]);
  await assert.rejects(
    score(post("/v1/score", { model: "s", text_1: ["a", "b"], text_2: ["a", "b", "c"] })),
    (error) => error instanceof WorkerError && error.status === 400 && error.param === "text_1",
  );
  await assert.rejects(
    rerank(post("/v1/rerank", { model: "r", query: "q" })),
    (error) => error instanceof WorkerError && error.status === 400 && error.param === "documents",
  );
});
