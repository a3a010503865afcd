// The naive baseline, run as its own process: an mqtt.js subscriber (QoS 1) that writes each reading to InfluxDB
// through the `influx` client and acknowledges the message once its point is written. No validation, no log, no
// indices. Argument: JSON options; prints {"ready": true} once subscribed, then {"written": n} about every 100 ms.
import { InfluxDB, type IPoint } from 'influx'
import { connectAsync } from 'mqtt'
import type { Registry } from '../domain.js'
import { loadRegistry } from '../registry/load-registry.js'

interface Options {
  broker: string
  influxUrl: string
  database: string
  registry: string
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options
const registry: Registry = loadRegistry(o.registry)
const sensors = new Map(registry.sensors.map((s) => [s.id, s]))
const url = new URL(o.influxUrl)
const influx = new InfluxDB({ host: url.hostname, port: Number(url.port), database: o.database })
await influx.createDatabase(o.database)
let written = 0
let failed = 0
const client = await connectAsync(o.broker, { clientId: `citywater-baseline-${process.pid}`, clean: true })
// mqtt.js takes the next message only after this callback, and sends the PUBACK then.
client.handleMessage = (packet, callback) => {
  const sensor = sensors.get(String(packet.topic).split('/')[3] ?? '')
  if (sensor === undefined) return callback()
  const { ts, seq: _seq, ...fields } = JSON.parse(String(packet.payload)) as Record<string, number>
  const point: IPoint = { measurement: sensor.kind, tags: { sensor: sensor.id, district: sensor.district, segment: sensor.segment }, fields, timestamp: new Date(ts as number) }
  influx.writePoints([point], { precision: 'ms' }).then(
    () => {
      written++
      callback()
    },
    () => {
      failed++
      callback()
    },
  )
}
await client.subscribeAsync('city/#', { qos: 1 })
process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
let reported = -1
setInterval(() => {
  if (written === reported) return
  reported = written
  process.stdout.write(`${JSON.stringify({ written, failed, at: Date.now() })}\n`)
}, 100)
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ written, failed, at: Date.now() })}\n`)
  client.end(true, () => process.exit(0))
})
