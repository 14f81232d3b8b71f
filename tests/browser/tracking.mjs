// The tracking page in a real headless Chromium at a phone's viewport, in Thai and English:
// the timeline and the estimate are visible, nothing overflows sideways, the console stays
// clean, and the delivery-choice form submits (with JavaScript off) and shows the confirmation.
// Screenshots go to SCREENSHOT_DIR. Exits non-zero with the reasons when anything fails.
//
// Env: BASE_URL, FAILED_TOKEN (a parcel after a failed attempt), TRANSIT_TOKEN (one in transit
// with an estimate), SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const failedToken = process.env.FAILED_TOKEN;
const transitToken = process.env.TRANSIT_TOKEN;
const shots = process.env.SCREENSHOT_DIR ?? 'target/browser';
mkdirSync(shots, { recursive: true });

const problems = [];
const check = (ok, what) => { if (!ok) problems.push(what); };
// A 1×1 PNG: product photos live on the shop's CDN, which this machine cannot reach.
const pixel = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
const phone = { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

async function open(context, path, label) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.route('https://cdn.shop.example.com/**', (route) => route.fulfill({ contentType: 'image/png', body: pixel }));
  const response = await page.goto(base + path, { waitUntil: 'load' });
  check(response && response.status() === 200, `${label}: status ${response && response.status()}`);
  return { page, errors };
}

async function inspect(page, errors, label, { lang, estimate }) {
  check(await page.getAttribute('html', 'lang') === lang, `${label}: html lang is not ${lang}`);
  check(await page.locator('#timeline ol.events li').first().isVisible(), `${label}: timeline not visible`);
  if (estimate) {
    const shown = page.locator('#estimate');
    check(await shown.isVisible(), `${label}: estimate not visible`);
    const text = (await shown.textContent()) ?? '';
    if (lang === 'th') check(/25\d\d/.test(text), `${label}: estimate not in the Buddhist Era: ${text}`);
  }
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `${label}: overflows horizontally by ${overflow}px`);
  const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
    .map((e) => e.tagName + '.' + e.className).slice(0, 5));
  check(wide.length === 0, `${label}: elements past the right edge: ${wide.join(', ')}`);
  check(errors.length === 0, `${label}: console errors: ${errors.join(' | ')}`);
  await page.screenshot({ path: `${shots}/tracking-${label}.png`, fullPage: true });
}

const context = await browser.newContext(phone);
for (const lang of ['th', 'en']) {
  const query = lang === 'en' ? '?lang=en' : '';
  {
    const { page, errors } = await open(context, `/t/${transitToken}${query}`, `transit-${lang}`);
    await inspect(page, errors, `transit-${lang}`, { lang, estimate: true });
    await page.close();
  }
  {
    const { page, errors } = await open(context, `/t/${failedToken}${query}`, `failed-${lang}`);
    await inspect(page, errors, `failed-${lang}`, { lang, estimate: false });
    check(await page.locator('form button[type=submit]').isVisible(), `failed-${lang}: no delivery-choice form`);
    await page.close();
  }
}

// The form with JavaScript off: a plain HTML post, a 303, the page with the confirmation.
const noScript = await browser.newContext({ ...phone, javaScriptEnabled: false });
const choices = [
  { lang: 'en', query: '?lang=en', choice: 'redeliver', date: true, note: '' },
  { lang: 'th', query: '', choice: 'safe_place', date: false, note: 'วางไว้หลังประตูรั้ว <b>ขอบคุณครับ</b>' },
];
for (const c of choices) {
  const label = `choice-${c.lang}`;
  const { page, errors } = await open(noScript, `/t/${failedToken}${c.query}`, label);
  await page.check(`input[name=choice][value=${c.choice}]`);
  if (c.date) await page.selectOption('#date', { index: 2 });
  if (c.note) await page.fill('#note', c.note);
  await Promise.all([page.waitForURL(/choice=saved/), page.click('form button[type=submit]')]);
  check(await page.locator('.notice').isVisible(), `${label}: no confirmation after submitting`);
  const chosen = (await page.locator('#chosen').textContent()) ?? '';
  if (c.note) check(chosen.includes(c.note), `${label}: the note is not shown as written: ${chosen}`);
  check(await page.locator('#chosen b').count() === 0, `${label}: the note's markup was not escaped`);
  check(errors.length === 0, `${label}: console errors: ${errors.join(' | ')}`);
  await page.screenshot({ path: `${shots}/tracking-${label}-saved.png`, fullPage: true });
  await page.close();
}

await browser.close();
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, screenshots: shots }));
