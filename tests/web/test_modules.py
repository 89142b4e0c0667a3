"""The pages' pure modules, run in the browser: the transcript merge rules, reconnect delays, schema forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest_asyncio


@pytest_asyncio.fixture(loop_scope="session")
async def modules(start_web: Callable[..., Any], page: Any) -> Any:
    host = await start_web()
    await page.goto(host.url("/"))  # the console's page: its import map resolves "preact" for the modules
    return page


TRANSCRIPT = """async () => {
  const T = await import('/static/shared/transcript.js');
  const m = (seq, sender, cmid, body) => ({seq, id: 100 + seq, sender, sender_id: 'x', client_msg_id: cmid, body,
                                           created_at: null});
  const out = {};
  let t = T.emptyTranscript();
  t = T.withStored(t, m(1, 'visitor', 'c-1', 'hi'));
  t = T.withPending(t, {sender: 'agent', client_msg_id: 'a-1', body: 'hello'});
  t = T.withPending(t, {sender: 'agent', client_msg_id: 'a-2', body: 'anything else?'});
  // a visitor message with the same client id as ours is not ours
  t = T.withStored(t, m(2, 'visitor', 'a-1', 'same id, other sender'));
  out.afterVisitor = t.items.map((i) => [i.body, i.state, i.seq]);
  // the replay brings our a-2 first (stored before a disconnect), then the duplicate ack of a resend
  t = T.withStored(t, m(3, 'agent', 'a-2', 'anything else?'));
  t = T.withAck(t, 'agent', {client_msg_id: 'a-2', seq: 3, id: 103, duplicate: true});
  // a-1 resent and acknowledged as a duplicate of seq 5, which the stream has not brought yet
  t = T.withAck(t, 'agent', {client_msg_id: 'a-1', seq: 5, id: 105, duplicate: true});
  out.lastSeqAfterDuplicate = t.lastSeq;
  t = T.withStored(t, m(4, 'visitor', 'c-2', 'ok'));
  t = T.withStored(t, m(5, 'agent', 'a-1', 'hello'));
  out.final = t.items.map((i) => [i.body, i.state, i.seq]);
  out.lastSeq = t.lastSeq;
  t = T.withPending(t, {sender: 'agent', client_msg_id: 'a-3', body: 'x'});
  t = T.withFailed(t, 'agent', 'a-3', 'store_unavailable');
  out.failed = t.items.at(-1).state + ':' + t.items.at(-1).error;
  t = T.withRetry(t, 'agent', 'a-3');
  out.retried = t.items.at(-1).state;
  out.unsent = T.unsentOnly(t).items.map((i) => i.body);
  return out;
}"""


async def test_transcript_merges_replays_acks_and_resends_into_one_ordered_list(modules: Any) -> None:
    out = await modules.evaluate(TRANSCRIPT)
    assert out["afterVisitor"] == [["hi", "stored", 1], ["same id, other sender", "stored", 2],
                                   ["hello", "pending", None], ["anything else?", "pending", None]]
    assert out["lastSeqAfterDuplicate"] == 3  # a duplicate ack is not part of the stream
    assert out["final"] == [["hi", "stored", 1], ["same id, other sender", "stored", 2],
                            ["anything else?", "stored", 3], ["ok", "stored", 4], ["hello", "stored", 5]]
    assert out["lastSeq"] == 5
    assert out["failed"] == "failed:store_unavailable"
    assert out["retried"] == "pending"
    assert out["unsent"] == ["x"]


async def test_reconnect_delays_grow_with_jitter_and_stay_capped(modules: Any) -> None:
    delays = await modules.evaluate("""async () => {
      const { backoffDelay } = await import('/static/shared/backoff.js');
      return [0, 1, 2, 3, 4, 5, 10, 50].map((n) => [backoffDelay(n, () => 0), backoffDelay(n, () => 0.999999)]);
    }""")
    assert delays == [[250, 500], [500, 1000], [1000, 2000], [2000, 4000], [4000, 8000], [5000, 10000],
                      [5000, 10000], [5000, 10000]]


async def test_schema_forms_turn_values_into_typed_arguments(modules: Any) -> None:
    out = await modules.evaluate("""async () => {
      const F = await import('/static/console/schema_form.js');
      const schema = {type: 'object', required: ['sku', 'n'], properties: {
        sku: {type: 'string'}, n: {type: 'integer'}, price: {type: ['number', 'null']},
        mode: {enum: ['a', 2, true]}, fast: {type: 'boolean'}, extra: {type: 'object'}}};
      const fields = F.fieldsOf(schema);
      return {
        kinds: fields.map((f) => [f.name, f.kind, f.required]),
        initial: F.initialValues(fields),
        ok: F.collect(fields, {sku: 'A1', n: '3', price: '9.5', mode: '1', fast: true, extra: '{"k": [1]}'}),
        optionalLeftOut: F.collect(fields, {sku: 'A1', n: '3', price: '', mode: '', fast: false, extra: ''}),
        bad: F.collect(fields, {sku: '', n: '2.5', price: 'x', mode: '', fast: false, extra: '{'}),
      };
    }""")
    assert out["kinds"] == [["sku", "string", True], ["n", "integer", True], ["price", "number", False],
                            ["mode", "enum", False], ["fast", "boolean", False], ["extra", "json", False]]
    assert out["initial"] == {"sku": "", "n": "", "price": "", "mode": "", "fast": False, "extra": ""}
    assert out["ok"] == {"args": {"sku": "A1", "n": 3, "price": 9.5, "mode": 2, "fast": True, "extra": {"k": [1]}}}
    assert out["optionalLeftOut"] == {"args": {"sku": "A1", "n": 3, "fast": False}}
    assert out["bad"] == {"errors": {"sku": "Required", "n": "A whole number, please", "price": "A number, please",
                                     "extra": "Not valid JSON"}}
