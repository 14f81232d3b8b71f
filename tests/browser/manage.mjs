// The subscription manage page in a real headless Chromium at a phone's viewport, in Thai and
// English, with JavaScript off (plain form posts): skip the next delivery, move it, cancel with a
// reason; then a forged link, which reveals nothing and offers a fresh link by email.
// Screenshots go to SCREENSHOT_DIR. Exits non-zero with the reasons when anything fails.
//
// Env: BASE_URL, MANAGE_TOKEN (a live manage link's token), SCREENSHOT_DIR, CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const token = process.env.MANAGE_TOKEN;
const shots = process.env.SCREENSHOT_DIR ?? 'target/browser';
mkdirSync(shots, { recursive: true });

const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };
const phone = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ ...phone, javaScriptEnabled: false });

async function open(path, label, status = 200) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  const response = await page.goto(base + path, { waitUntil: 'load' });
  check(response && response.status() === status, `${label}: status ${response && response.status()}, wanted ${status}`);
  return { page, errors };
}

async function fits(page, errors, label, { expected404 = false } = {}) {
  if (expected404) errors = errors.filter((e) => !e.includes('status of 404'));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${label}: overflows horizontally by ${overflow}px`);
  const small = await page.evaluate(() => [...document.querySelectorAll('button, input, textarea')]
    .filter((e) => e.type !== 'hidden' && e.getBoundingClientRect().height < 44)
    .map((e) => e.id || e.name).slice(0, 5));
  check(small.length === 0, `${label}: touch targets under 44px: ${small.join(', ')}`);
  check(errors.length === 0, `${label}: console errors: ${errors.join(' | ')}`);
  await page.screenshot({ path: `${shots}/manage-${label}.png`, fullPage: true });
}

// Thai (the customer's language), then English on request.
{
  const { page, errors } = await open(`/s/${token}`, 'th');
  check(await page.getAttribute('html', 'lang') === 'th', 'th: html lang is not th');
  check(/25\d\d/.test((await page.locator('dl.facts').textContent()) ?? ''), 'th: next delivery not in the Buddhist Era');
  check(await page.locator('#skip').isVisible(), 'th: no skip button');
  await fits(page, errors, 'th');
  await page.close();
}
{
  const { page, errors } = await open(`/s/${token}?lang=en`, 'en');
  check(await page.getAttribute('html', 'lang') === 'en', 'en: html lang is not en');
  check(((await page.locator('h1').textContent()) ?? '').includes('Your subscription'), 'en: not in English');
  await fits(page, errors, 'en');

  // Skip: a plain post, a 303, the page saying it was sent, the request listed.
  await Promise.all([page.waitForURL(/done=skip/), page.click('#skip')]);
  check(await page.locator('.notice').isVisible(), 'skip: no confirmation');
  check(((await page.locator('ul.plain').last().textContent()) ?? '').includes('Skip delivery'), 'skip: not listed as requested');
  await fits(page, errors, 'skipped');

  // Move the next delivery to the first allowed day.
  const first = await page.getAttribute('#date', 'min');
  await page.fill('#date', first);
  await Promise.all([page.waitForURL(/done=reschedule/), page.click('#reschedule')]);
  check(await page.locator('.notice').isVisible(), 'reschedule: no confirmation');

  // Cancel with a reason that has markup: shown nowhere unescaped, the page closes.
  await page.fill('#reason', '<b>Too much coffee</b>');
  await Promise.all([page.waitForURL(/done=cancel/), page.click('#cancel')]);
  check(await page.locator('.alert.s-cancelled').isVisible(), 'cancel: the page does not say it is closed');
  check(await page.locator('#skip').count() === 0, 'cancel: changes still offered');
  check(await page.locator('b').count() === 0, 'cancel: markup not escaped');
  await fits(page, errors, 'cancelled');
  await page.close();
}

// A forged link: 404, nothing about anyone, the form for a new link, the same answer after.
{
  const { page, errors } = await open('/s/forged-link-0123456789abcdefghijkl?lang=en', 'expired', 404);
  check(!((await page.content()).includes('coffee')), 'expired: shows a subscription');
  check(await page.locator('input[type=email]').isVisible(), 'expired: no email form');
  await fits(page, errors, 'expired', { expected404: true });
  await page.fill('input[type=email]', 'somchai@example.co.th');
  await Promise.all([page.waitForLoadState('load'), page.click('#send-link')]);
  check(((await page.locator('h1').textContent()) ?? '').includes('Check your email'), 'new link: no confirmation');
  await fits(page, errors, 'link-sent', { expected404: true });
  await page.close();
}

await browser.close();
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, screenshots: shots }));
