export { createInfluxd, findInfluxd, freePort, Influxd, startInfluxd, type InfluxdOptions } from '../../bench/influxd.js'
