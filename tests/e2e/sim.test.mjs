// kvroute-sim as seen by the official `openai` npm client: if this client can stream, parse usage,
// decode embeddings and map errors, so can the applications people point at kvroute. Two tiny instances on
// 127.0.0.1, fast clock; the whole file runs in a few seconds.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { startSim } from './lib/spawn.mjs';

let sim;
let model;
let clients; // one OpenAI client per instance, so a test can choose where its request goes

before(async () => {
  sim = await startSim({ instances: 2, preset: 'tiny', speedup: 50 });
  model = sim.instances[0].model;
  clients = sim.instances.map(
    (inst) => new OpenAI({ baseURL: `${inst.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 }),
  );
});

after(async () => {
  if (sim) await sim.stop();
});

// Distinct text so that no test gets prefix-cache hits from another one by accident.
const words = (n, seed) => Array.from({ length: n }, (_, i) => `${seed}-word${i}`).join(' ');

describe('chat completions', () => {
  test('stream delivers content in several chunks, a finish reason, then a usage chunk', async () => {
    const stream = await clients[0].chat.completions.create({
      model,
      messages: [{ role: 'user', content: `Say something. ${randomUUID()}` }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 12,
      ignore_eos: true,
    });
    const contentChunks = [];
    const finishReasons = [];
    let role;
    let usageChunk;
    let chunksAfterUsage = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.model, model);
      if (usageChunk) chunksAfterUsage += 1;
      if (chunk.choices.length === 0) {
        assert.ok(chunk.usage, 'a chunk without choices is the usage chunk');
        usageChunk = chunk;
        continue;
      }
      const [choice] = chunk.choices;
      if (choice.delta.role) role = choice.delta.role;
      if (choice.delta.content) contentChunks.push(choice.delta.content);
      if (choice.finish_reason) finishReasons.push(choice.finish_reason);
    }
    assert.equal(role, 'assistant');
    assert.ok(contentChunks.length >= 2, `content came in ${contentChunks.length} chunk(s)`);
    assert.ok(contentChunks.join('').length > 0);
    assert.deepEqual(finishReasons, ['length'], 'max_tokens with ignore_eos ends on length, once');
    assert.ok(usageChunk, 'include_usage adds a usage chunk');
    assert.equal(chunksAfterUsage, 0, 'the usage chunk is the last one');
    const { usage } = usageChunk;
    assert.ok(usage.prompt_tokens > 0);
    assert.equal(usage.completion_tokens, 12);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(typeof usage.prompt_tokens_details?.cached_tokens, 'number');
  });

  test('stream without include_usage carries no usage chunk', async () => {
    const stream = await clients[1].chat.completions.create({
      model,
      messages: [{ role: 'user', content: `Hello ${randomUUID()}` }],
      stream: true,
      sim_output_tokens: 5,
    });
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      assert.ok(chunk.choices.length > 0, 'every chunk has a choice');
      assert.ok(!chunk.usage, 'no usage without include_usage');
    }
    assert.ok(chunks >= 2);
  });

  test('non-streaming returns the message and usage', async () => {
    const res = await clients[1].chat.completions.create({
      model,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: `What is two plus two? ${randomUUID()}` },
      ],
      sim_output_tokens: 7,
    });
    assert.equal(res.object, 'chat.completion');
    assert.match(res.id, /^chatcmpl-/);
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].message.role, 'assistant');
    assert.ok(res.choices[0].message.content.length > 0);
    assert.ok(['stop', 'length'].includes(res.choices[0].finish_reason));
    assert.ok(res.usage.prompt_tokens > 0);
    assert.equal(res.usage.completion_tokens, 7, 'sim_output_tokens fixes the output length');
    assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
  });

  test('a repeated long prompt on the same instance hits the prefix cache', async () => {
    const messages = [{ role: 'user', content: `${randomUUID()} ${words(300, 'cache')}` }];
    const ask = () =>
      clients[0].chat.completions
        .create({ model, messages, max_tokens: 4, ignore_eos: true })
        .withResponse();
    const first = await ask();
    const second = await ask();
    const instance = new URL(sim.instances[0].url).host;
    assert.equal(first.response.headers.get('x-sim-instance'), instance);
    assert.equal(second.response.headers.get('x-sim-instance'), instance);

    const prompt = first.data.usage.prompt_tokens;
    assert.equal(second.data.usage.prompt_tokens, prompt);
    const cold = first.data.usage.prompt_tokens_details?.cached_tokens ?? 0;
    const warm = second.data.usage.prompt_tokens_details?.cached_tokens;
    assert.ok(prompt > 200, `the prompt is long (${prompt} tokens)`);
    assert.ok(cold < prompt / 2, `first request mostly uncached (${cold}/${prompt})`);
    assert.ok(warm > prompt / 2, `second request mostly cached (${warm}/${prompt})`);
    assert.ok(warm < prompt, 'at least the last token is computed');
  });
});

describe('completions', () => {
  test('non-streaming returns text and usage', async () => {
    const res = await clients[0].completions.create({
      model,
      prompt: `Once upon a time ${randomUUID()}`,
      max_tokens: 6,
      ignore_eos: true,
    });
    assert.equal(res.object, 'text_completion');
    assert.ok(res.choices[0].text.length > 0);
    assert.equal(res.choices[0].finish_reason, 'length');
    assert.ok(res.usage.prompt_tokens > 0);
    assert.equal(res.usage.completion_tokens, 6);
  });

  test('stream delivers text chunks and usage', async () => {
    const stream = await clients[1].completions.create({
      model,
      prompt: `The quick brown fox ${randomUUID()}`,
      max_tokens: 8,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let textChunks = 0;
    let finish;
    let usage;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'text_completion');
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        if (choice.text) {
          text += choice.text;
          textChunks += 1;
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
    assert.ok(textChunks >= 2, `text came in ${textChunks} chunk(s)`);
    assert.ok(text.length > 0);
    assert.equal(finish, 'length');
    assert.equal(usage?.completion_tokens, 8);
    assert.ok(usage.prompt_tokens > 0);
  });
});

describe('embeddings', () => {
  // The tiny preset's hidden size: the width of every vector.
  const HIDDEN = 64;
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

  test('default call (base64 on the wire, decoded by the client): unit vectors of the hidden size', async () => {
    const input = `Embed this sentence. ${randomUUID()}`;
    const { data: res, response } = await clients[0].embeddings.create({ model, input }).withResponse();
    assert.equal(res.object, 'list');
    assert.equal(res.model, model);
    assert.equal(res.data.length, 1);
    assert.equal(res.data[0].object, 'embedding');
    assert.equal(res.data[0].index, 0);
    const v = res.data[0].embedding;
    assert.ok(Array.isArray(v), 'the client decoded the base64 answer into numbers');
    assert.equal(v.length, HIDDEN);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
    assert.ok(res.usage.prompt_tokens > 0);
    assert.equal(res.usage.total_tokens, res.usage.prompt_tokens);
    assert.equal(response.headers.get('x-sim-instance'), new URL(sim.instances[0].url).host);
  });

  test("encoding_format 'float' gives the very same vector, on any instance", async () => {
    const input = `Same everywhere. ${randomUUID()}`;
    const base64 = await clients[0].embeddings.create({ model, input });
    const float = await clients[1].embeddings.create({ model, input, encoding_format: 'float' });
    const again = await clients[0].embeddings.create({ model, input });
    assert.equal(float.data[0].embedding.length, HIDDEN);
    assert.ok(Math.abs(norm(float.data[0].embedding) - 1) < 1e-5);
    assert.deepEqual(float.data[0].embedding, base64.data[0].embedding, 'float and decoded base64 agree exactly');
    assert.deepEqual(again.data[0].embedding, base64.data[0].embedding, 'same input, same vector');
    assert.equal(float.usage.prompt_tokens, base64.usage.prompt_tokens);
    const other = await clients[0].embeddings.create({ model, input: `${input} (changed)` });
    assert.notDeepEqual(other.data[0].embedding, base64.data[0].embedding);
  });

  test('a batch of inputs gets one vector each, in order, and usage adds up', async () => {
    const tag = randomUUID();
    const inputs = [`one ${tag}`, `two ${tag}`, `three ${tag}`];
    const batch = await clients[1].embeddings.create({ model, input: inputs });
    assert.deepEqual(
      batch.data.map((d) => d.index),
      [0, 1, 2],
    );
    let tokens = 0;
    for (const [i, text] of inputs.entries()) {
      const single = await clients[1].embeddings.create({ model, input: text });
      assert.deepEqual(batch.data[i].embedding, single.data[0].embedding);
      tokens += single.usage.prompt_tokens;
    }
    assert.equal(batch.usage.prompt_tokens, tokens);
  });

  test('dimensions is a BadRequestError, as vLLM answers for a model without matryoshka support', async () => {
    await assert.rejects(clients[0].embeddings.create({ model, input: 'x', dimensions: 8 }), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.match(err.message, /does not support matryoshka representation/);
      return true;
    });
  });

  test('an unknown model is a NotFoundError and an empty input a BadRequestError', async () => {
    await assert.rejects(clients[0].embeddings.create({ model: 'no-such-model', input: 'x' }), (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}`);
      return true;
    });
    await assert.rejects(clients[0].embeddings.create({ model, input: [] }), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}`);
      assert.equal(err.param, 'input');
      return true;
    });
  });
});

describe('models and errors', () => {
  test('models.list() names the served model on every instance', async () => {
    for (const client of clients) {
      const ids = [];
      for await (const m of client.models.list()) ids.push(m.id);
      assert.ok(ids.includes(model), `${model} in ${JSON.stringify(ids)}`);
    }
  });

  test('an unknown model is a NotFoundError (404)', async () => {
    await assert.rejects(
      clients[0].chat.completions.create({
        model: 'no-such-model',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 404);
        assert.ok(err.message.length > 0);
        return true;
      },
    );
  });

  test('a negative max_tokens is a BadRequestError (400)', async () => {
    await assert.rejects(
      clients[1].chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: -1,
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 400);
        return true;
      },
    );
  });

  test('a bad request does not hurt the next one', async () => {
    const res = await clients[1].chat.completions.create({
      model,
      messages: [{ role: 'user', content: `Still there? ${randomUUID()}` }],
      sim_output_tokens: 3,
    });
    assert.equal(res.usage.completion_tokens, 3);
  });
});
