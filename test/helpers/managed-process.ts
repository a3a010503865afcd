export { findExecutable, freePort, ManagedProcess, stopProcess, waitUntilReady, type DaemonSpec } from '../../bench/managed-process.js'
