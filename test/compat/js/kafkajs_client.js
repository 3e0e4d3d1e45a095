// kafkajs against Strata.
//
// usage: node kafkajs_client.js BOOTSTRAP version|create|produce|consume|group ARGS...
// Prints one JSON event per line on stdout (see ../client_test.go); kafkajs' own log goes
// to stderr. Codecs: gzip is built in; snappy from kafkajs-snappy; lz4 and zstd are small
// adapters below over lz4js and @bokuweb/zstd-wasm (pure JS / WebAssembly, no native build).
'use strict'

const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, logLevel } = require('kafkajs')
const lz4js = require('lz4js')
const zstd = require('@bokuweb/zstd-wasm')

CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress (encoder) { return Buffer.from(lz4js.compress(encoder.buffer)) },
  async decompress (buffer) { return Buffer.from(lz4js.decompress(buffer)) }
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  // zstd.init() runs once in main: initialising again while another batch is being
  // compressed replaced the WebAssembly memory under it (zeroed batches).
  async compress (encoder) { return Buffer.from(zstd.compress(encoder.buffer, 3)) },
  async decompress (buffer) { return Buffer.from(zstd.decompress(buffer)) }
})

const codecs = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
}

const key = (i) => `key-${i % 23}`
const value = (topic, i) => `${topic}|${String(i).padStart(6, '0')}|${'ab'.repeat(i % 40)}\u00fc`
const emit = (ev) => process.stdout.write(JSON.stringify(ev) + '\n')
const record = (partition, m) => emit({
  ev: 'record',
  p: partition,
  o: Number(m.offset),
  k: m.key ? m.key.toString('utf8') : '',
  v: m.value ? m.value.toString('utf8') : ''
})

const toStderr = () => ({ namespace, level, label, log }) => {
  process.stderr.write(`${label} ${namespace} ${log.message} ${JSON.stringify(log)}\n`)
}

function kafka (bs) {
  return new Kafka({ clientId: 'strata-compat', brokers: [bs], logLevel: logLevel.WARN, logCreator: toStderr })
}

async function create (bs, topic, partitions) {
  const admin = kafka(bs).admin()
  await admin.connect()
  const ok = await admin.createTopics({ topics: [{ topic, numPartitions: Number(partitions) }], waitForLeaders: true })
  await admin.disconnect()
  if (!ok) throw new Error(`createTopics ${topic}: not created`)
  emit({ ev: 'created' })
}

async function produce (bs, topic, codec, n, idempotent) {
  n = Number(n)
  const idem = idempotent === '1'
  const producer = kafka(bs).producer(idem ? { idempotent: true, maxInFlightRequests: 1 } : {})
  await producer.connect()
  let sent = 0
  for (let from = 0; from < n; from += 50) {
    const messages = []
    for (let i = from; i < Math.min(n, from + 50); i++) {
      messages.push({ key: key(i), value: Buffer.from(value(topic, i), 'utf8') })
    }
    await producer.send({ topic, acks: -1, compression: codecs[codec], messages })
    sent += messages.length
  }
  await producer.disconnect()
  emit({ ev: 'produced', n: sent })
}

async function consume (bs, topic, n, small) {
  n = Number(n)
  const limits = small ? { maxBytesPerPartition: 256, maxBytes: 1024 } : {}
  const consumer = kafka(bs).consumer({ groupId: `compat-consume-${topic}-${small ? 'small' : 'default'}`, maxWaitTimeInMs: 200, ...limits })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let got = 0
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consume: read ${got} of ${n}`)), 30000)
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (got >= n) return
        record(partition, message)
        if (++got === n) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
}

async function group (bs, topic, groupId) {
  const consumer = kafka(bs).consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000, maxWaitTimeInMs: 200 })
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    emit({ ev: 'assigned', partitions: (e.payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b) })
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      // Commit first, report second: a failed commit throws, kafkajs does not resolve
      // the offset and the record is delivered again.
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
      record(partition, message)
    }
  })
  await new Promise((resolve) => {
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
    process.stdin.resume()
  })
  await consumer.disconnect()
}

// A group member with the default automatic commits reads n records and disconnects.
async function autocommit (bs, topic, groupId, n) {
  n = Number(n)
  const consumer = kafka(bs).consumer({ groupId, maxWaitTimeInMs: 200 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let got = 0
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`autocommit: read ${got} of ${n}`)), 30000)
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        record(partition, message)
        if (++got === n) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
}

async function admin (bs, topic, groupId, doomed) {
  const a = kafka(bs).admin()
  await a.connect()
  const described = await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }], includeSynonyms: false })
  for (const entry of described.resources[0].configEntries) emit({ ev: 'config', k: entry.configName, v: entry.configValue })
  for (const g of (await a.listGroups()).groups) emit({ ev: 'group', k: g.groupId })
  for (const t of await a.fetchOffsets({ groupId, topics: [topic] })) {
    for (const p of t.partitions) emit({ ev: 'committed', p: p.partition, o: Number(p.offset) })
  }
  for (const p of await a.fetchTopicOffsets(topic)) emit({ ev: 'end', p: p.partition, o: Number(p.high) })
  for (const p of await a.fetchTopicOffsetsByTimestamp(topic, 0)) emit({ ev: 'bytime', p: p.partition, o: Number(p.offset) })
  // Offsets set for the now empty group, without membership.
  await a.setOffsets({ groupId, topic, partitions: [{ partition: 1, offset: '7' }] })
  emit({ ev: 'setoffset', p: 1, o: 7 })
  // AlterConfigs (kafkajs has no incremental variant) replaces the topic's configs.
  await a.alterConfigs({
    validateOnly: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '123456789' }] }]
  })
  await a.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] })
  emit({ ev: 'deleted', p: 0, o: 10 })
  await a.deleteTopics({ topics: [doomed] })
  await a.disconnect()
}

// txn: commit 50 records, abort 50, commit 50 more with a consumer offset sent to the
// transaction; then count what read_committed and read_uncommitted consumers see.
async function txn (bs, topic, groupId) {
  const k = kafka(bs)
  const producer = k.producer({ transactionalId: `compat-txn-${topic}`, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  for (const [tag, commit, offsets] of [['c1', true, false], ['ab', false, false], ['c2', true, true]]) {
    const t = await producer.transaction()
    const messages = []
    for (let i = 0; i < 50; i++) messages.push({ partition: i % 3, value: `${tag}-${i}` })
    await t.send({ topic, acks: -1, messages })
    if (offsets) {
      await t.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '77' }] }] })
    }
    if (commit) await t.commit(); else await t.abort()
  }
  await producer.disconnect()
  emit({ ev: 'txns-done' })
  for (const level of ['read_committed', 'read_uncommitted']) {
    const want = level === 'read_committed' ? 100 : 150
    const consumer = k.consumer({ groupId: `compat-txn-${level}`, maxWaitTimeInMs: 200, readUncommitted: level === 'read_uncommitted' })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let n = 0
    let aborted = 0
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${level}: read ${n} of ${want}`)), 30000)
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          n++
          if (message.value.toString().startsWith('ab-')) aborted++
          if (n === want) {
            clearTimeout(timer)
            setTimeout(resolve, 1000) // anything more would be a record too many
          }
        }
      }).catch(reject)
    })
    await consumer.disconnect()
    emit({ ev: 'count', k: level, n, o: aborted })
  }
}

async function main () {
  const [bs, cmd, ...args] = process.argv.slice(2)
  await zstd.init()
  if (cmd === 'version') {
    emit({ ev: 'version', version: `kafkajs ${require('kafkajs/package.json').version} (node ${process.version})` })
    return
  }
  const fn = { create, produce, consume, group, admin, autocommit, txn }[cmd]
  if (!fn) throw new Error(`unknown command ${cmd}`)
  await fn(bs, ...args)
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
