/** Reads a streamed chat completion through the official openai client, checking every chunk against OpenAI's schema. */
import type OpenAI from "openai";
import { assertOpenAI } from "./openai_schema.ts";

/** Streams one chat completion with usage; returns the text and the completion tokens the final chunk reports. */
export async function readChatStream(
  client: OpenAI,
  request: { model: string; messages: OpenAI.Chat.ChatCompletionMessageParam[] },
): Promise<{ text: string; completionTokens: number }> {
  const stream = await client.chat.completions.create({
    ...request,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let completionTokens = 0;
  for await (const chunk of stream) {
    assertOpenAI("CreateChatCompletionStreamResponse", chunk);
    text += chunk.choices[0]?.delta?.content ?? "";
    completionTokens += chunk.usage?.completion_tokens ?? 0;
  }
  return { text, completionTokens };
}
