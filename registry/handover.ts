import type { Registry } from '../domain.js'

/**
 * Registries that loadRegistry parsed from a file and handed to its caller: no one else holds them, so indexRegistry
 * may adopt one (deep-freeze it in place) instead of copying it, which halves the peak of loading a large registry.
 */
const handedOver = new WeakSet<Registry>()

/** Marks a registry freshly parsed by loadRegistry as owned by the caller alone. */
export function handOver(registry: Registry): Registry {
  handedOver.add(registry)
  return registry
}

/** True for a registry loadRegistry returned. */
export function isHandedOver(registry: Registry): boolean {
  return handedOver.has(registry)
}
