// SPDX-License-Identifier: MIT
//
// Publish/consume/confirm/close loops with amqplib (npm), unchanged,
// against a broker: every confirm arrives, every message is consumed once
// and in order, each connection's close resolves (Close-Ok arrives: a
// close that waits forever is a failure, bounded by a timer), and direct
// reply-to answers an RPC. Bounded in count and time.
//
//   node loops.js amqp://guest:guest@198.18.0.1:5672/ [n] [conns]
'use strict';
const amqp = require('amqplib');

const url = process.argv[2] || 'amqp://guest:guest@127.0.0.1:5672/';
const n = parseInt(process.argv[3] || '2000', 10);
const conns = parseInt(process.argv[4] || '20', 10);

function within(ms, what, p) {
  let t;
  const timer = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

async function publishConsume() {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  const q = (await ch.assertQueue('', { exclusive: true, autoDelete: true })).queue;
  for (let i = 0; i < n; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
  await within(20000, 'confirms', ch.waitForConfirms());
  await ch.prefetch(100);
  let next = 0;
  await within(20000, 'deliveries', new Promise((resolve, reject) => {
    ch.consume(q, (msg) => {
      if (msg.content.toString() !== `m${next}`)
        reject(new Error(`delivery ${next}: ${msg.content}`));
      ch.ack(msg);
      if (++next === n) resolve();
    });
  }));
  await within(5000, 'channel close', ch.close());
  await within(5000, 'connection close', conn.close());
}

async function closes() {
  for (let c = 0; c < conns; c++) {
    const conn = await amqp.connect(url);
    const ch = await conn.createChannel();
    await ch.assertQueue('', { exclusive: true });
    await within(5000, `close of connection ${c}`, conn.close());
  }
}

async function rpc() {
  const server = await amqp.connect(url);
  const sch = await server.createChannel();
  const q = (await sch.assertQueue('', { exclusive: true })).queue;
  await sch.consume(q, (m) => {
    sch.sendToQueue(m.properties.replyTo, Buffer.concat([Buffer.from('re:'), m.content]),
      { correlationId: m.properties.correlationId });
  }, { noAck: true });
  const client = await amqp.connect(url);
  const cch = await client.createChannel();
  const reply = new Promise((resolve) => {
    cch.consume('amq.rabbitmq.reply-to', (m) => resolve(m), { noAck: true });
  });
  await new Promise((r) => setTimeout(r, 100)); // Consume-Ok before the request
  cch.sendToQueue(q, Buffer.from('ping'), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'c1' });
  const m = await within(10000, 'rpc reply', reply);
  if (m.content.toString() !== 're:ping' || m.properties.correlationId !== 'c1')
    throw new Error(`rpc reply: ${m.content} ${m.properties.correlationId}`);
  await within(5000, 'client close', client.close());
  await within(5000, 'server close', server.close());
}

(async () => {
  for (let i = 0; i < 3; i++) await publishConsume();
  console.log(`ok   node publish/consume/confirm: 3 loops of ${n}`);
  await closes();
  console.log(`ok   node close: ${conns} connections`);
  await rpc();
  console.log('ok   node direct reply-to');
})().catch((e) => {
  console.error(`FAIL ${e.message}`);
  process.exit(1);
});
