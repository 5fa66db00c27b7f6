// Steps shared by the flows: the identifier-first login, the consent decision, the
// language switcher, and what each page's heading must look like in each language.
//
// Element ids and field names are the hosted pages' contract with these tests (see the
// WEB section of the Universal Login brief): #email, #password, #password-confirm, #code,
// #resend, #name, a#forgot-password, a#signup-link, nav#languages,
// button[name=decision][value=accept|deny].

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { check } from './harness.mjs';

/**
 * The catalogue key(s) of each page's heading (its one h1). The expected text comes from
 * the hosted pages' message catalogues (`crates/clavis-web/locales/<locale>.json`), so a
 * French page must show the French text, and a key missing from the French catalogue
 * (an English fallback) fails.
 */
export const HEADINGS = {
  login: ['login.title'],
  password: ['password_step.title'],
  login_code: ['login_code.title'],
  signup: ['signup.title'],
  verify: ['verify.title'],
  verified: ['verify.done_title'],
  consent: ['consent.title'],
  forgot: ['forgot.title'],
  forgot_sent: ['forgot.sent_title'],
  reset: ['reset.title'],
  reset_done: ['reset.done_title'],
  locked: ['error.locked.title', 'error.throttled.title'],
  unlocked: ['unlock.done_title'],
  logout: ['logout.title'],
  logged_out: ['logout.done_title'],
  error: /^error\.[a-z_.]+\.title$|^link\.invalid_title$/,
};

const catalogues = new Map();

/** The message catalogue of `locale` (flat key → text). */
export function catalogue(flow, locale) {
  if (!catalogues.has(locale)) {
    const dir = flow.input.catalogue_dir || new URL('../../../crates/clavis-web/locales/', import.meta.url).pathname;
    catalogues.set(locale, JSON.parse(readFileSync(join(dir, `${locale}.json`), 'utf8')));
  }
  return catalogues.get(locale);
}

/** A catalogue text as a pattern: `{placeholder}`s match anything. */
function pattern(text) {
  const esc = text.replace(/\s+/g, ' ').trim().replace(/[.*+?^$()|[\]\\]/g, '\\$&');
  return new RegExp(`^${esc.replace(/\\?\{[a-z_]+\\?\}/g, '.+').replace(/[{}]/g, '\\$&')}$`);
}

/** The keys a page of `kind` may use for its heading. */
function headingKeys(flow, kind) {
  const k = HEADINGS[kind];
  check(k, `no heading keys for ${kind}`);
  if (Array.isArray(k)) return k;
  return Object.keys(catalogue(flow, 'en')).filter((key) => k.test(key));
}

/**
 * Visit, and check the heading is the catalogue's text of `kind` in the flow's language
 * (with the English text refused on a French page).
 */
export async function visitAs(flow, page, step, kind, expect = {}) {
  const rec = await flow.visit(page, step, expect);
  const keys = headingKeys(flow, kind);
  const local = catalogue(flow, flow.locale);
  const h1 = (rec.h1 || '').replace(/\s+/g, ' ').trim();
  const hit = keys.find((key) => local[key] !== undefined && pattern(local[key]).test(h1));
  if (!hit) {
    const missing = keys.filter((key) => local[key] === undefined);
    flow.problems.push(
      `${rec.step}: heading ${JSON.stringify(rec.h1)} is not the ${flow.locale} text of ${keys.join(' or ')}` +
        (missing.length ? ` (missing from the ${flow.locale} catalogue: ${missing.join(', ')})` : ''),
    );
  }
  if (flow.locale !== 'en') {
    const en = catalogue(flow, 'en');
    const english = keys.find((key) => en[key] !== local[key] && en[key] !== undefined && pattern(en[key]).test(h1));
    if (english) flow.problems.push(`${rec.step}: heading "${h1}" is the English text of ${english}`);
  }
  rec.heading_key = hit || null;
  return rec;
}

/** Open the authorization request in this flow's language (`ui_locales`). */
export async function authorize(flow, page, extra = {}) {
  return flow.goto(page, flow.authorizeUrl({ ...flow.localeParams(), ...extra }));
}

/** On any hosted page: follow the language switcher's link to `locale`. */
export async function switchLanguage(flow, page, locale) {
  const link = page.locator(`nav#languages a[href*="ui_locales=${locale}"]`);
  check((await link.count()) > 0, `no link to ui_locales=${locale} in nav#languages on ${page.url()}`);
  await flow.navigate(page, () => link.first().click());
  const lang = await page.evaluate(() => document.documentElement.lang);
  check(lang.startsWith(locale), `after the language switcher: html[lang]="${lang}", expected ${locale}`);
}

/** The identifier step: type the email, continue to the password step (and visit it). */
export async function identifier(flow, page, email, step = 'login') {
  await visitAs(flow, page, step, 'login', { path: /\/login$/ });
  check((await page.locator('input#email[name=email]').count()) === 1, 'the login page has no input#email[name=email]');
  await page.fill('#email', email);
  await flow.click(page, 'main form button[type=submit]');
}

/** The password step (after `identifier`): visit it, type the password, submit. */
export async function password(flow, page, pw, step = 'password') {
  await visitAs(flow, page, step, 'password', { path: /\/login\/password$/ });
  check(
    (await page.locator('input#password[name=password]').count()) === 1,
    'the password page has no input#password[name=password]',
  );
  await page.fill('#password', pw);
  return flow.click(page, 'main form button[type=submit]');
}

/** A whole login from the identifier page. */
export async function login(flow, page, email, pw, prefix = '') {
  await identifier(flow, page, email, `${prefix}login`);
  return password(flow, page, pw, `${prefix}password`);
}

/** The consent page: it names the application and the requested scopes; decide. */
export async function consent(flow, page, decision, step = 'consent') {
  await visitAs(flow, page, step, 'consent', { path: /\/consent$/ });
  const text = await page.locator('main').innerText();
  if (flow.input.app_name) {
    check(text.includes(flow.input.app_name), `the consent page does not name the application "${flow.input.app_name}"`);
  }
  for (const words of flow.input.scope_words || []) {
    if (!text.includes(words)) flow.problems.push(`${step}: the consent page does not list "${words}"`);
  }
  // The raw scope strings of OIDC scopes are not what a person reads.
  const button = page.locator(`button[name=decision][value=${decision}]`);
  check((await button.count()) === 1, `the consent page has no button[name=decision][value=${decision}]`);
  await flow.navigate(page, () => button.click());
}

/** Submit the form of the page by its submit button (the first form in main). */
export async function submit(flow, page) {
  return flow.click(page, 'main form button[type=submit]');
}

/** Fill `selector` if the page has it. */
export async function fillIf(page, selector, value) {
  if ((await page.locator(selector).count()) > 0) await page.fill(selector, value);
}

/** Press Tab until `selector` has the focus (at most `max` times); false if it never does. */
async function tabTo(page, selector, max = 20) {
  for (let i = 0; i < max; i += 1) {
    if (await page.evaluate((sel) => document.activeElement && document.activeElement.matches(sel), selector)) {
      return true;
    }
    await page.keyboard.press('Tab');
  }
  return false;
}

/**
 * Log in and agree with the keyboard only: the email field has the focus when the page
 * opens, Enter submits, and Tab reaches the consent page's "accept" button.
 */
export async function keyboardLoginAndConsent(flow, page, email, pw, prefix = 'keyboard-') {
  await visitAs(flow, page, `${prefix}login`, 'login', { path: /\/login$/ });
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  if (focused !== 'email') flow.problems.push(`${prefix}login: the email field does not have the focus (${focused})`);
  check(await tabTo(page, '#email'), 'Tab never reaches #email on the login page');
  await page.keyboard.type(email);
  await flow.navigate(page, () => page.keyboard.press('Enter'));
  await visitAs(flow, page, `${prefix}password`, 'password', { path: /\/login\/password$/ });
  check(await tabTo(page, '#password'), 'Tab never reaches #password on the password page');
  await page.keyboard.type(pw);
  await flow.navigate(page, () => page.keyboard.press('Enter'));
  await visitAs(flow, page, `${prefix}consent`, 'consent', { path: /\/consent$/ });
  check(
    await tabTo(page, 'button[name=decision][value=accept]'),
    'Tab never reaches the consent page\'s accept button',
  );
  await flow.navigate(page, () => page.keyboard.press('Enter'));
}
