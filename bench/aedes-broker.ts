// A bare aedes broker in its own process for the naive baseline; prints {"port": N} once listening, stops on SIGTERM.
import { createServer, type AddressInfo } from 'node:net'
import { Aedes } from 'aedes'

const broker = await Aedes.createBroker()
const server = createServer(broker.handle)
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`))
process.on('SIGTERM', () => {
  server.close()
  broker.close(() => process.exit(0))
})
