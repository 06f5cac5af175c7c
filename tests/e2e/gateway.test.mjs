// kvroute as the official `openai` npm client sees it: the client talks to the gateway, the gateway
// to two kvroute-sim instances. Streaming and non-streaming chat, completions, embeddings (base64
// and float), the model list, and errors, each mapped to the client's own error classes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startProcess, startSim } from './lib/spawn.mjs';

let sim;
let gateway;
let client;
let model;
let configDir;

before(async () => {
  sim = await startSim({ instances: 2, preset: 'tiny', speedup: 50 });
  model = sim.instances[0].model;
  configDir = mkdtempSync(path.join(tmpdir(), 'kvroute-e2e-'));
  const config = path.join(configDir, 'kvroute.yaml');
  writeFileSync(
    config,
    [
      'listeners: [{address: "127.0.0.1:0", workers: 1}]',
      'server: {backend_header: true}',
      'pools:',
      '  - name: sim',
      `    models: ["${model}"]`,
      `    aliases: {tiny: "${model}"}`,
      '    policy: round_robin',
      `    backends: [${sim.instances.map((i) => i.url).join(', ')}]`,
      '',
    ].join('\n'),
  );
  gateway = await startProcess(process.env.KVROUTE_BIN, ['--config', config, '--log-level', 'warn'], {
    until: (lines) => lines.includes('ready'),
    name: 'kvroute',
  });
  const url = gateway.lines.map((l) => l.match(/^listening url=(\S+)/)).find(Boolean)[1];
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 });
});

after(async () => {
  if (gateway) {
    const { code } = await gateway.stop();
    assert.equal(code, 0, 'kvroute exits 0 on SIGTERM');
  }
  if (sim) await sim.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

const simHosts = () => sim.instances.map((i) => new URL(i.url).host);

describe('chat completions through the gateway', () => {
  test('stream: several content chunks, one finish reason, a usage chunk last', async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: 'user', content: `Stream through kvroute. ${randomUUID()}` }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 12,
      ignore_eos: true,
    });
    const content = [];
    const finish = [];
    let usage;
    let afterUsage = 0;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (usage) afterUsage += 1;
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        if (choice.delta.content) content.push(choice.delta.content);
        if (choice.finish_reason) finish.push(choice.finish_reason);
      }
    }
    assert.ok(content.length >= 2, `content came in ${content.length} chunk(s)`);
    assert.deepEqual(finish, ['length']);
    assert.equal(usage?.completion_tokens, 12);
    assert.equal(afterUsage, 0);
  });

  test('non-streaming: message, usage, and which backend answered', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model,
        messages: [{ role: 'user', content: `Two plus two? ${randomUUID()}` }],
        sim_output_tokens: 7,
      })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.ok(data.choices[0].message.content.length > 0);
    assert.equal(data.usage.completion_tokens, 7);
    const backend = response.headers.get('x-kvroute-backend');
    assert.ok(simHosts().includes(backend), `x-kvroute-backend ${backend}`);
    assert.equal(response.headers.get('x-sim-instance'), backend);
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f]{32}$/);
  });

  test('round robin alternates between the two instances', async () => {
    const seen = [];
    for (let i = 0; i < 4; i += 1) {
      const { response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: `rr ${i}` }], max_tokens: 1 })
        .withResponse();
      seen.push(response.headers.get('x-kvroute-backend'));
    }
    assert.notEqual(seen[0], seen[1]);
    assert.equal(seen[0], seen[2]);
    assert.equal(seen[1], seen[3]);
  });

  test('an alias is answered by the real model', async () => {
    const res = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'alias' }],
      max_tokens: 2,
    });
    assert.equal(res.model, model);
  });
});

describe('completions through the gateway', () => {
  test('non-streaming', async () => {
    const res = await client.completions.create({
      model,
      prompt: `Once upon a time ${randomUUID()}`,
      max_tokens: 6,
      ignore_eos: true,
    });
    assert.equal(res.object, 'text_completion');
    assert.ok(res.choices[0].text.length > 0);
    assert.equal(res.usage.completion_tokens, 6);
  });

  test('streaming', async () => {
    const stream = await client.completions.create({
      model,
      prompt: `The quick brown fox ${randomUUID()}`,
      max_tokens: 8,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    });
    let chunks = 0;
    let usage;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices.some((c) => c.text)) chunks += 1;
    }
    assert.ok(chunks >= 2, `text came in ${chunks} chunk(s)`);
    assert.equal(usage?.completion_tokens, 8);
  });
});

describe('embeddings', () => {
  const HIDDEN = 64; // the tiny preset's hidden size
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

  test('the default call (base64, decoded by the client) succeeds through the gateway', async () => {
    const input = `Embed me through kvroute. ${randomUUID()}`;
    const { data: res, response } = await client.embeddings.create({ model, input }).withResponse();
    assert.equal(res.object, 'list');
    assert.equal(res.model, model);
    assert.equal(res.data.length, 1);
    const v = res.data[0].embedding;
    assert.ok(Array.isArray(v));
    assert.equal(v.length, HIDDEN);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
    assert.ok(res.usage.prompt_tokens > 0);
    const backend = response.headers.get('x-kvroute-backend');
    assert.ok(simHosts().includes(backend), `x-kvroute-backend ${backend}`);
    assert.equal(response.headers.get('x-sim-instance'), backend);
  });

  test("encoding_format 'float' and a batch: the same vectors from either backend", async () => {
    const tag = randomUUID();
    const inputs = [`alpha ${tag}`, `beta ${tag}`, `gamma ${tag}`];
    // Round robin sends consecutive requests to different instances; the vectors must not care.
    const { data: float, response: r1 } = await client.embeddings
      .create({ model, input: inputs, encoding_format: 'float' })
      .withResponse();
    const { data: base64, response: r2 } = await client.embeddings.create({ model, input: inputs }).withResponse();
    assert.notEqual(r1.headers.get('x-kvroute-backend'), r2.headers.get('x-kvroute-backend'), 'two backends');
    assert.equal(float.data.length, 3);
    for (let i = 0; i < 3; i += 1) {
      assert.equal(float.data[i].index, i);
      assert.equal(float.data[i].embedding.length, HIDDEN);
      assert.ok(Math.abs(norm(float.data[i].embedding) - 1) < 1e-5);
      assert.deepEqual(float.data[i].embedding, base64.data[i].embedding);
    }
    assert.notDeepEqual(float.data[0].embedding, float.data[1].embedding);
    assert.equal(float.usage.prompt_tokens, base64.usage.prompt_tokens);
    assert.ok(float.usage.prompt_tokens > 0);
  });

  test('an alias is answered by the real model', async () => {
    const res = await client.embeddings.create({ model: 'tiny', input: 'alias' });
    assert.equal(res.model, model);
  });
});

describe('models and errors', () => {
  test('models.list() names the model and its alias', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), [model, 'tiny'].sort());
  });

  test('an unknown model is a NotFoundError from the gateway', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}`);
        assert.equal(err.status, 404);
        assert.match(err.message, /The model `no-such-model` does not exist\./);
        assert.equal(err.headers?.get('x-kvroute-backend'), null, 'no backend was asked');
        return true;
      },
    );
  });

  test('an invalid parameter is a BadRequestError (400)', async () => {
    await assert.rejects(
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 0 }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}`);
        assert.equal(err.status, 400);
        assert.match(err.message, /max_tokens/);
        return true;
      },
    );
  });
});
