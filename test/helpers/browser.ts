import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

/** Debian's chromium; CITYWATER_CHROMIUM overrides it. */
export const CHROMIUM = process.env.CITYWATER_CHROMIUM ?? '/usr/bin/chromium'

/** Where browser tests save their screenshots (a CI artifact, not committed). */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url))

/** Where CITYWATER_UPDATE_SCREENSHOTS=1 also copies them, for the README. */
export const DOCS_SCREENSHOTS = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))

/** Launches headless Chromium as the issue prescribes. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium), or set CITYWATER_CHROMIUM`)
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
  })
}

/** A problem the page reported: a console error, an uncaught exception, a failed request or an HTTP error. */
export interface PageProblem {
  what: 'console' | 'pageerror' | 'requestfailed' | 'http'
  text: string
}

/** Opens a page in a fresh context and records every problem it reports. */
export async function openPage(browser: Browser, options: { width: number; height: number; locale?: string }): Promise<{ context: BrowserContext; page: Page; problems: PageProblem[] }> {
  const context = await browser.newContext({
    viewport: { width: options.width, height: options.height },
    locale: options.locale ?? 'zh-CN',
    timezoneId: 'UTC',
  })
  const page = await context.newPage()
  const problems: PageProblem[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push({ what: 'console', text: message.text() })
  })
  page.on('pageerror', (err) => problems.push({ what: 'pageerror', text: String(err) }))
  page.on('requestfailed', (request) => problems.push({ what: 'requestfailed', text: `${request.method()} ${request.url()}: ${request.failure()?.errorText ?? ''}` }))
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push({ what: 'http', text: `${response.status()} ${response.url()}` })
  })
  return { context, page, problems }
}

/**
 * Saves a screenshot of `page` (or of one element) under test-artifacts/dashboard/NAME.png and returns its path;
 * with CITYWATER_UPDATE_SCREENSHOTS=1 also as docs/screenshots/NAME.png, the copies the README shows.
 */
export async function screenshot(page: Page, name: string, selector?: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const path = `${ARTIFACTS}${name}.png`
  if (selector === undefined) await page.screenshot({ path })
  else await page.locator(selector).screenshot({ path })
  if (process.env.CITYWATER_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS_SCREENSHOTS, { recursive: true })
    copyFileSync(path, `${DOCS_SCREENSHOTS}${name}.png`)
  }
  return path
}
