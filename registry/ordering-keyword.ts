import type { FuncKeywordDefinition, SchemaValidateFunction } from 'ajv'

/** The orderings `cwOrdering` can enforce on a params object. */
export const ORDERING_RULES = ['riverLevels', 'wellGeometry'] as const

export type OrderingRule = (typeof ORDERING_RULES)[number]

/** A broken ordering: the offending param and a sentence saying why. */
export interface OrderingProblem {
  field: string
  message: string
}

/** Default river-gauge margin Δ below the warning level, in metres (INDICES.md §2). */
export const DEFAULT_NEAR_MARGIN_M = 0.2

// Params are decimal metres written by people: 2.9 + 0.2 must count as equal to 3.1.
const EPS = 1e-9

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/** Checks `Hn ≤ Hw − Δ < Hw < Hg` and `Hx > Hn` on river-gauge params (INDICES.md §2). */
export function riverLevelProblem(params: Record<string, unknown>): OrderingProblem | undefined {
  const hn = num(params.normalLevelM)
  const hw = num(params.warningLevelM)
  const hg = num(params.guaranteedLevelM)
  const hx = num(params.historicMaxLevelM)
  const margin = num(params.nearMarginM) ?? DEFAULT_NEAR_MARGIN_M
  if (hn === undefined || hw === undefined || hg === undefined || hx === undefined) return undefined
  if (hw - margin < hn - EPS) {
    return {
      field: 'warningLevelM',
      message: `must be at least normalLevelM + nearMarginM (got warningLevelM ${hw}, normalLevelM ${hn}, nearMarginM ${margin})`,
    }
  }
  if (!(hg > hw + EPS)) {
    return { field: 'guaranteedLevelM', message: `must be greater than warningLevelM (got guaranteedLevelM ${hg}, warningLevelM ${hw})` }
  }
  if (!(hx > hn + EPS)) {
    return { field: 'historicMaxLevelM', message: `must be greater than normalLevelM (got historicMaxLevelM ${hx}, normalLevelM ${hn})` }
  }
  return undefined
}

/** Checks `depthM > invertM + pipeDiameterM` (invertM defaults to 0) on manhole and pipe params. */
export function wellGeometryProblem(params: Record<string, unknown>): OrderingProblem | undefined {
  const invert = num(params.invertM) ?? 0
  const diameter = num(params.pipeDiameterM)
  const depth = num(params.depthM)
  if (diameter === undefined || depth === undefined) return undefined
  if (depth - invert - diameter > EPS) return undefined
  const message =
    params.invertM === undefined
      ? `must be greater than pipeDiameterM (got depthM ${depth}, pipeDiameterM ${diameter})`
      : `must be greater than invertM + pipeDiameterM (got depthM ${depth}, invertM ${invert}, pipeDiameterM ${diameter})`
  return { field: 'depthM', message }
}

const CHECKS: Record<OrderingRule, (params: Record<string, unknown>) => OrderingProblem | undefined> = {
  riverLevels: riverLevelProblem,
  wellGeometry: wellGeometryProblem,
}

const validateOrdering: SchemaValidateFunction = (rule: OrderingRule, data: Record<string, unknown>, _parent, cxt) => {
  const problem = CHECKS[rule](data)
  if (problem === undefined) return true
  validateOrdering.errors = [
    {
      keyword: 'cwOrdering',
      instancePath: `${cxt?.instancePath ?? ''}/${problem.field}`,
      message: problem.message,
      params: { rule, field: problem.field },
    },
  ]
  return false
}

/** The ajv keyword `cwOrdering: "riverLevels" | "wellGeometry"`: the arithmetic orderings JSON Schema cannot express. */
export const orderingKeyword: FuncKeywordDefinition = {
  keyword: 'cwOrdering',
  type: 'object',
  schemaType: 'string',
  metaSchema: { enum: [...ORDERING_RULES] },
  errors: true,
  validate: validateOrdering,
}
