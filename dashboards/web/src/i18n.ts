/** Labels of the dashboard in Chinese (default) and English. */

export type Lang = 'zh-CN' | 'en'

/** The language a new visitor gets. */
export const DEFAULT_LANG: Lang = 'zh-CN'

const zh = {
  title: '城市水务实时监测',
  overview: '指数总览',
  trends: '指数趋势',
  map: '传感器地图',
  alerts: '当前告警',
  parking: '停车诱导',
  switchLang: 'English',
  connecting: '连接中',
  live: '实时',
  reconnecting: '重连中',
  attempt: '第 {n} 次',
  clear: '清水指数',
  smooth: '畅水指数',
  district: '全区',
  confidence: '置信度',
  class: '{n}类',
  class6: '劣Ⅴ类',
  excellent: '优',
  good: '良好',
  slightly_polluted: '轻度污染',
  moderately_polluted: '中度污染',
  heavily_polluted: '重度污染',
  normal: '正常',
  blue: '蓝色',
  yellow: '黄色',
  orange: '橙色',
  red: '红色',
  noAlerts: '暂无告警',
  open: '未确认',
  acknowledged: '已确认',
  resolved: '已解除',
  ack: '确认',
  resolve: '解除',
  confirm: '提交',
  cancel: '取消',
  note: '备注',
  ackTitle: '确认告警',
  resolveTitle: '解除告警',
  value: '数值',
  threshold: '阈值',
  eta: '预计 {n} 分钟',
  raisedAt: '发生时间',
  flapping: '频繁波动',
  engine: '引擎',
  FULL: '满',
  CLOSED: '关闭',
  free: '空余车位',
  noData: '无数据',
  online: '在线',
  stale: '失联',
  fault: '故障',
  unknown: '未上报',
  lastValue: '最新读数',
  worstSegment: '最差',
  updated: '更新于',
  tapSensor: '点击传感器查看详情',
  historyFailed: '历史数据加载失败：{msg}',
  actionFailed: '操作失败：{msg}',
  timeZone: '北京时间',
  limiting: '主要因子',
  sensors: '个传感器',
  river: '河道',
  lake: '湖泊',
  drainage: '排水分区',
  flags: '标记',
  k_water_level: '河道水位',
  k_flow: '流量',
  k_water_quality: '水质',
  k_manhole_level: '窨井水位',
  k_pipe_level: '管网液位',
  k_ponding_depth: '积水深度',
  k_tunnel_depth: '隧道积水',
  k_sediment: '管道淤积',
  k_rainfall: '雨量',
  k_parking: '停车场',
  noHistory: '暂无数据',
}

type Labels = Record<keyof typeof zh, string>

const en: Labels = {
  title: 'City water live monitor',
  overview: 'Indices',
  trends: 'Trends',
  map: 'Sensor map',
  alerts: 'Active alerts',
  parking: 'Parking guidance',
  switchLang: '中文',
  connecting: 'Connecting',
  live: 'Live',
  reconnecting: 'Reconnecting',
  attempt: 'attempt {n}',
  clear: 'Clear-water index',
  smooth: 'Smooth-water index',
  district: 'District',
  confidence: 'Confidence',
  class: 'Class {n}',
  class6: 'Worse than V',
  excellent: 'Excellent',
  good: 'Good',
  slightly_polluted: 'Slightly polluted',
  moderately_polluted: 'Moderately polluted',
  heavily_polluted: 'Heavily polluted',
  normal: 'Normal',
  blue: 'Blue',
  yellow: 'Yellow',
  orange: 'Orange',
  red: 'Red',
  noAlerts: 'No active alerts',
  open: 'Open',
  acknowledged: 'Acknowledged',
  resolved: 'Resolved',
  ack: 'Acknowledge',
  resolve: 'Resolve',
  confirm: 'Confirm',
  cancel: 'Cancel',
  note: 'Note',
  ackTitle: 'Acknowledge alert',
  resolveTitle: 'Resolve alert',
  value: 'Value',
  threshold: 'Threshold',
  eta: 'ETA {n} min',
  raisedAt: 'Raised',
  flapping: 'Flapping',
  engine: 'Engine',
  FULL: 'FULL',
  CLOSED: 'CLOSED',
  free: 'Free spaces',
  noData: 'No data',
  online: 'Online',
  stale: 'Stale',
  fault: 'Fault',
  unknown: 'Unknown',
  lastValue: 'Last reading',
  worstSegment: 'worst',
  updated: 'Updated',
  tapSensor: 'Tap a sensor for details',
  historyFailed: 'History could not be loaded: {msg}',
  actionFailed: 'Action failed: {msg}',
  timeZone: 'Beijing time',
  limiting: 'Limiting',
  sensors: 'sensors',
  river: 'River',
  lake: 'Lake',
  drainage: 'Drainage zone',
  flags: 'Flags',
  k_water_level: 'Water level',
  k_flow: 'Flow',
  k_water_quality: 'Water quality',
  k_manhole_level: 'Manhole level',
  k_pipe_level: 'Pipe level',
  k_ponding_depth: 'Ponding depth',
  k_tunnel_depth: 'Tunnel depth',
  k_sediment: 'Sediment',
  k_rainfall: 'Rainfall',
  k_parking: 'Parking lot',
  noHistory: 'No data yet',
}

/** A label key. */
export type LabelKey = keyof typeof zh

const LABELS: Record<Lang, Labels> = { 'zh-CN': zh, en }

/** True for a supported language tag. */
export function isLang(value: unknown): value is Lang {
  return value === 'zh-CN' || value === 'en'
}

/** The label of `key` in `lang` with `{name}` placeholders filled from `vars`. */
export function t(lang: Lang, key: LabelKey, vars: Record<string, string | number> = {}): string {
  return LABELS[lang][key].replace(/\{(\w+)\}/g, (_m, name: string) => String(vars[name] ?? ''))
}

/** The label of a sensor kind, or the kind itself. */
export function kindLabel(lang: Lang, kind: string): string {
  const key = `k_${kind}`
  return Object.hasOwn(LABELS[lang], key) ? LABELS[lang][key as LabelKey] : kind
}

/** The label of `key` when it is one, else the key itself (grades, bands, statuses from the API). */
export function label(lang: Lang, key: string): string {
  return Object.hasOwn(LABELS[lang], key) ? LABELS[lang][key as LabelKey] : key
}
