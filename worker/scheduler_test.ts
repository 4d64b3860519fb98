import assert from "node:assert/strict";
import { Scheduler } from "./scheduler.ts";

function gauges() {
  const value = { running: 0, waiting: 0 };
  const gauge = (key: keyof typeof value) => ({ inc: () => void value[key]++, dec: () => void value[key]-- });
  return { value, metrics: { running: gauge("running"), waiting: gauge("waiting") } };
}

Deno.test("requests over the limit wait and are admitted in arrival order as slots free up", async () => {
  const { value, metrics } = gauges();
  const scheduler = new Scheduler(2, metrics);
  const signal = new AbortController().signal;
  assert.equal(scheduler.tryAcquire(), true);
  assert.equal(await scheduler.acquire(signal), true);
  const order: number[] = [];
  const third = scheduler.acquire(signal).then((ok) => order.push(3) && ok);
  const fourth = scheduler.acquire(signal).then((ok) => order.push(4) && ok);
  assert.equal(scheduler.tryAcquire(), false);
  assert.deepEqual(value, { running: 2, waiting: 2 });
  scheduler.release();
  assert.equal(await third, true);
  assert.deepEqual(value, { running: 2, waiting: 1 });
  scheduler.release();
  assert.equal(await fourth, true);
  assert.deepEqual(order, [3, 4]);
  scheduler.release();
  scheduler.release();
  assert.deepEqual(value, { running: 0, waiting: 0 });
});

Deno.test("a waiting request whose client goes away leaves the queue and is not admitted", async () => {
  const { value, metrics } = gauges();
  const scheduler = new Scheduler(1, metrics);
  assert.equal(scheduler.tryAcquire(), true);
  const client = new AbortController();
  const waiting = scheduler.acquire(client.signal);
  assert.equal(value.waiting, 1);
  client.abort();
  assert.equal(await waiting, false);
  assert.deepEqual(value, { running: 1, waiting: 0 });
  scheduler.release();
  assert.deepEqual(value, { running: 0, waiting: 0 });
});
