// The harness every flow uses: reads the JSON the Rust driver passes, drives Debian's
// Chromium through playwright-core, and for every page a flow visits records its status,
// language and heading, checks the hosted-page contract (lang, main, h1, language switcher,
// CSP, no inline script or style), saves a full-page screenshot and runs axe-core on it.
//
// The flow itself runs in normal browser contexts with the page's Content-Security-Policy
// enforced. axe-core needs to inject a script, so the accessibility pass replays each
// visited page's DOM in a separate context created with `bypassCSP: true`.
//
// A flow prints one JSON line on stdout as its last line: `{"ok": true, ...}` or
// `{"ok": false, "error": ..., "problems": [...]}` (exit code 1).

import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core');

export const CHROMIUM = process.env.CLAVIS_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Impacts that fail a run. */
const BLOCKING_IMPACTS = new Set(['serious', 'critical']);
/** How long to wait for an email to reach the outbox. */
const OUTBOX_TIMEOUT_MS = 20_000;

/** The JSON input: argv[2], else the CLAVIS_BROWSER_INPUT environment variable. */
export function readInput() {
  const raw = process.argv[2] || process.env.CLAVIS_BROWSER_INPUT;
  if (!raw) {
    throw new Error('usage: node <flow>.mjs \'{"base_url": …}\' (or CLAVIS_BROWSER_INPUT)');
  }
  const input = JSON.parse(raw);
  for (const k of ['base_url', 'tenant', 'artifact_dir', 'locale']) {
    if (!input[k]) throw new Error(`input is missing "${k}"`);
  }
  return input;
}

function log(...args) {
  console.error('[browser]', ...args);
}

/** A failure that stops the flow (as opposed to problems collected along the way). */
export class FlowError extends Error {}

export function check(cond, msg) {
  if (!cond) throw new FlowError(msg);
}

export class Flow {
  /**
   * @param {string} name flow name used in screenshot file names (e.g. `signup-code`)
   * @param {object} input the driver's JSON
   */
  constructor(name, input) {
    this.name = name;
    this.input = input;
    this.base = input.base_url.replace(/\/$/, '');
    this.tenant = input.tenant;
    this.locale = input.locale;
    this.artifactDir = input.artifact_dir;
    this.pages = [];
    this.problems = [];
    this.axe = [];
    this.callbacks = [];
    this.dialogs = [];
    this.consoleErrors = [];
    this.seenEmails = new Set();
    this.step = 0;
    this.lastDoc = new WeakMap();
  }

  issuer() {
    return `${this.base}/t/${this.tenant}`;
  }

  async open() {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: run scripts/test (it installs chromium)`);
    }
    mkdirSync(this.artifactDir, { recursive: true });
    // Screenshots of an earlier run of this flow would mix with this run's.
    const prefix = `${this.name}-${this.locale}-`;
    for (const f of readdirSync(this.artifactDir)) {
      if (f.startsWith(prefix) && f.endsWith('.png')) rmSync(join(this.artifactDir, f), { force: true });
    }
    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    // The accessibility pass replays pages 320 CSS pixels wide (WCAG 2.1 reflow: no
    // sideways scrolling on a small phone).
    this.axeContext = await this.browser.newContext({
      bypassCSP: true,
      locale: 'en-US',
      viewport: { width: 320, height: 640 },
    });
    this.axePage = await this.axeContext.newPage();
    return this;
  }

  /**
   * A fresh browser context (no cookies) with the page's CSP enforced. Navigations to the
   * client's redirect URI (a small page the Rust driver serves) are recorded. (Playwright's
   * routing does not see the redirected requests that lead there, so it cannot answer them.)
   */
  async newContext(opts = {}) {
    const ctx = await this.browser.newContext({
      // English browser: French must come from ui_locales or the language switcher.
      locale: 'en-US',
      viewport: { width: 1024, height: 768 },
      ...opts,
    });
    const redirect = this.input.redirect_uri;
    if (redirect) {
      ctx.on('request', (r) => {
        if (r.isNavigationRequest() && r.url().startsWith(redirect)) this.callbacks.push(r.url());
      });
    }
    ctx.on('page', (p) => this.watch(p));
    return ctx;
  }

  /**
   * A browser of the person's own, in their language, as when they open a link from an
   * email on another device (no cookie of the first browser).
   */
  async mailContext() {
    const tag = { en: 'en-US', fr: 'fr-FR' }[this.locale] || this.locale;
    return this.newContext({ locale: tag });
  }

  watch(page) {
    page.on('dialog', async (d) => {
      this.dialogs.push(`${d.type()}: ${d.message()}`);
      this.problems.push(`a script opened a ${d.type()} dialog ("${d.message()}") on ${page.url()}`);
      await d.dismiss().catch(() => {});
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') {
        this.consoleErrors.push({ url: page.url(), type: m.type(), text: m.text() });
      }
    });
    page.on('pageerror', (e) => {
      this.problems.push(`script error on ${page.url()}: ${e.message}`);
    });
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
        this.lastDoc.set(page, r);
      }
    });
  }

  /** Run `action` (a click, a goto) and wait for the navigation it starts; returns the response. */
  async navigate(page, action) {
    const [resp] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load', timeout: 20_000 }),
      action(),
    ]);
    return resp;
  }

  async goto(page, url) {
    return page.goto(url, { waitUntil: 'load', timeout: 20_000 });
  }

  /** Submit the form holding `selector` by clicking it. */
  async click(page, selector) {
    return this.navigate(page, () => page.click(selector));
  }

  /** The callback URL the flow reached last, or fail. */
  lastCallback() {
    check(this.callbacks.length > 0, 'the flow never reached the client redirect URI');
    return this.callbacks[this.callbacks.length - 1];
  }

  /**
   * Record the page `page` shows now as step `step`: contract checks, screenshot, axe.
   * `expect` may hold `status`, `heading` (RegExp the h1 must match), `path` (RegExp on
   * the URL path), `lang` (when not the flow's language).
   */
  async visit(page, step, expect = {}) {
    this.step += 1;
    const label = `${this.name}-${this.locale}-${String(this.step).padStart(2, '0')}-${step}`;
    const url = page.url();
    const resp = this.lastDoc.get(page);
    const status = resp ? resp.status() : null;
    const headers = resp ? await resp.allHeaders().catch(() => ({})) : {};
    const info = await page.evaluate(() => {
      const q = (s) => document.querySelector(s);
      const h1 = q('h1');
      return {
        lang: document.documentElement.getAttribute('lang'),
        title: document.title,
        h1: h1 ? h1.textContent.trim().replace(/\s+/g, ' ') : null,
        h1Count: document.querySelectorAll('h1').length,
        main: !!q('main'),
        languages: !!q('nav#languages'),
        languageLinks: Array.from(document.querySelectorAll('nav#languages a')).map((a) =>
          a.getAttribute('href'),
        ),
        inlineStyles: document.querySelectorAll('[style]').length + document.querySelectorAll('style').length,
        inlineScripts: Array.from(document.querySelectorAll('script')).filter((s) => !s.src).length,
        handlers: Array.from(document.querySelectorAll('*')).filter((e) =>
          Array.from(e.attributes).some((a) => /^on/i.test(a.name)),
        ).length,
        fields: Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea')).length,
        alerts: Array.from(document.querySelectorAll('[role=alert]')).map((e) => ({
          id: e.id,
          text: e.textContent.trim(),
          described: e.id ? document.querySelectorAll(`[aria-describedby~="${e.id}"]`).length : 0,
        })),
        pwned: window.__pwned !== undefined,
      };
    });
    const record = { step: label, url, status, ...info };
    this.pages.push(record);
    log(`${label}: ${status} ${url} lang=${info.lang} h1=${JSON.stringify(info.h1)}`);

    await page.screenshot({ path: join(this.artifactDir, `${label}.png`), fullPage: true });

    const isServerPage = url.startsWith(this.base);
    if (isServerPage) {
      const where = `${label} (${new URL(url).pathname})`;
      const csp = headers['content-security-policy'] || '';
      if (!/default-src 'none'/.test(csp) || /unsafe-inline|unsafe-eval/.test(csp)) {
        this.problems.push(`${where}: Content-Security-Policy is "${csp}"`);
      }
      if (!/frame-ancestors 'none'/.test(csp)) this.problems.push(`${where}: CSP without frame-ancestors 'none'`);
      if ((headers['x-content-type-options'] || '') !== 'nosniff') {
        this.problems.push(`${where}: X-Content-Type-Options is not nosniff`);
      }
      if (!headers['referrer-policy']) this.problems.push(`${where}: no Referrer-Policy`);
      if (!info.lang) this.problems.push(`${where}: <html> has no lang`);
      else if (!info.lang.toLowerCase().startsWith(expect.lang || this.locale)) {
        this.problems.push(`${where}: html[lang]="${info.lang}", expected ${expect.lang || this.locale}`);
      }
      if (!info.main) this.problems.push(`${where}: no <main>`);
      if (info.h1Count !== 1) this.problems.push(`${where}: ${info.h1Count} <h1> elements`);
      if (!info.languages) this.problems.push(`${where}: no nav#languages language switcher`);
      if (info.inlineStyles) this.problems.push(`${where}: ${info.inlineStyles} inline style(s)`);
      if (info.inlineScripts) this.problems.push(`${where}: ${info.inlineScripts} inline script(s)`);
      if (info.handlers) this.problems.push(`${where}: ${info.handlers} element(s) with on* handlers`);
      if (info.pwned) this.problems.push(`${where}: window.__pwned is set: injected script ran`);
      // On a form, every error message is tied to what it is about.
      for (const a of info.fields > 0 ? info.alerts : []) {
        if (!a.id || a.described === 0) {
          this.problems.push(`${where}: role=alert "${a.text}" is not tied to a field by aria-describedby`);
        }
      }
    }
    if (expect.status !== undefined && status !== expect.status) {
      throw new FlowError(`${label}: status ${status}, expected ${expect.status} (${url})`);
    }
    if (expect.path && !expect.path.test(new URL(url).pathname)) {
      throw new FlowError(`${label}: at ${url}, expected a path matching ${expect.path}`);
    }
    if (expect.heading && !(info.h1 && expect.heading.test(info.h1))) {
      this.problems.push(`${label}: heading ${JSON.stringify(info.h1)} does not match ${expect.heading} (${this.locale})`);
    }
    if (isServerPage && !expect.skipAxe) {
      await this.audit(label, page);
    }
    return record;
  }

  /** axe-core on a replay of the page's current DOM in the CSP-bypassing context. */
  async audit(label, page) {
    const url = page.url();
    const html = await page.content();
    const p = this.axePage;
    await p.route(
      (u) => u.href === url,
      (route) =>
        route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }),
    );
    try {
      await p.goto(url, { waitUntil: 'load', timeout: 20_000 });
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (overflow > 1) {
        this.problems.push(`${label}: at 320 px wide the page scrolls sideways by ${overflow} px (WCAG 1.4.10 reflow)`);
      }
      await p.addScriptTag({ path: AXE_PATH });
      const res = await p.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          helpUrl: v.helpUrl,
          nodes: v.nodes.map((n) => ({
            target: n.target.join(' '),
            html: n.html.slice(0, 300),
            summary: n.failureSummary,
          })),
        }));
      });
      for (const v of res) {
        const entry = { page: label, url, ...v };
        this.axe.push(entry);
        const line = `axe ${v.impact} ${v.id} on ${label}: ${v.help} — ${v.nodes
          .map((n) => `${n.target} ${n.html}`)
          .join(' | ')}`;
        if (BLOCKING_IMPACTS.has(v.impact)) {
          this.problems.push(line);
        }
        log(line);
      }
    } finally {
      await p.unrouteAll({ behavior: 'ignoreErrors' });
    }
  }

  /** The authorization URL for this flow's client (extra parameters override). */
  authorizeUrl(extra = {}) {
    const i = this.input;
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: i.client_id,
      redirect_uri: i.redirect_uri,
      scope: i.scope || 'openid profile email',
      state: i.state,
      nonce: i.nonce,
      code_challenge: i.code_challenge,
      code_challenge_method: 'S256',
    });
    if (i.audience) params.set('audience', i.audience);
    if (i.organization) params.set('organization', i.organization);
    for (const [k, v] of Object.entries(extra)) {
      if (v === null) params.delete(k);
      else params.set(k, v);
    }
    return `${this.issuer()}/authorize?${params}`;
  }

  /** `ui_locales` for an authorization request in this flow's language. */
  localeParams() {
    return this.locale === 'en' ? {} : { ui_locales: this.locale };
  }

  /** The outbox through the Management API (`read:email_outbox`). */
  async outboxList(to) {
    const url = `${this.issuer()}/api/v2/emails/outbox?${new URLSearchParams({ to })}`;
    const r = await fetch(url, { headers: { authorization: `Bearer ${this.input.api_key}` } });
    const text = await r.text();
    check(r.ok, `GET ${url}: ${r.status} ${text}`);
    const body = JSON.parse(text);
    if (Array.isArray(body)) return body;
    const list = Object.values(body).find(Array.isArray);
    check(list, `outbox answer has no list: ${text.slice(0, 300)}`);
    return list;
  }

  /** Wait for a new email of `template` to `to` (one not returned before) and return it. */
  async email(to, template) {
    const deadline = Date.now() + OUTBOX_TIMEOUT_MS;
    for (;;) {
      const list = await this.outboxList(to);
      const found = list
        .filter((m) => m.template === template && !this.seenEmails.has(m.id))
        .sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
      if (found.length > 0) {
        const m = found[found.length - 1];
        for (const f of found) this.seenEmails.add(f.id);
        log(`email ${m.id} (${template}) to ${to}: ${JSON.stringify(m.subject)}`);
        check(m.to === to, `email ${m.id} is addressed to ${m.to}, expected ${to}`);
        this.checkEmailLanguage(m);
        return m;
      }
      check(
        Date.now() < deadline,
        `no ${template} email to ${to} in the outbox after ${OUTBOX_TIMEOUT_MS} ms (have: ${list
          .map((m) => m.template)
          .join(', ')})`,
      );
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * The email is in the flow's language: its subject is the built-in subject of its
   * template in that language (`{{ variables }}` match anything).
   */
  checkEmailLanguage(mail) {
    const dir = this.input.email_templates_dir;
    if (!dir) return;
    const file = join(dir, this.locale, `${mail.template}.subject.txt`);
    if (!existsSync(file)) {
      this.problems.push(`no built-in ${this.locale} subject for ${mail.template} (${file})`);
      return;
    }
    const src = readFileSync(file, 'utf8').trim();
    const parts = src.split(/\{\{[^}]*\}\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    if (!new RegExp(`^${parts.join('.+')}$`).test(mail.subject.trim())) {
      this.problems.push(
        `email ${mail.template} to ${mail.to} is not in ${this.locale}: subject ${JSON.stringify(mail.subject)}, expected ${JSON.stringify(src)}`,
      );
    }
  }

  /** The first link in an email's text body that starts with `prefix` (absolute URL). */
  linkIn(mail, pathPrefix) {
    const want = `${this.issuer()}${pathPrefix}`;
    const links = `${mail.text_body}\n${mail.html_body}`.match(/https?:\/\/[^\s"'<>]+/g) || [];
    const link = links.map((l) => l.replace(/&amp;/g, '&')).find((l) => l.startsWith(want));
    check(link, `no link to ${want} in email ${mail.id}: ${mail.text_body}`);
    return link;
  }

  /** The 6-digit code in an email's text body. */
  codeIn(mail) {
    const m = mail.text_body.match(/\b(\d{6})\b/);
    check(m, `no 6-digit code in email ${mail.id}: ${mail.text_body}`);
    return m[1];
  }

  /** Fail on anything collected; print the result line and exit. */
  async finish(extra = {}) {
    const cspViolations = this.consoleErrors.filter((c) => /Content Security Policy/i.test(c.text));
    for (const c of cspViolations) {
      this.problems.push(`CSP violation reported on ${c.url}: ${c.text}`);
    }
    const ok = this.problems.length === 0;
    const out = {
      ok,
      flow: this.name,
      locale: this.locale,
      callback: this.callbacks.length ? this.callbacks[this.callbacks.length - 1] : null,
      callbacks: this.callbacks,
      problems: this.problems,
      pages: this.pages.map(({ step, url, status, lang, h1 }) => ({ step, url, status, lang, h1 })),
      axe: this.axe.map(({ page, id, impact, help, nodes }) => ({
        page,
        id,
        impact,
        help,
        targets: nodes.map((n) => n.target),
      })),
      console: this.consoleErrors,
      ...extra,
    };
    await this.close();
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exitCode = ok ? 0 : 1;
  }

  async fail(err) {
    let shot = null;
    try {
      // A screenshot of wherever the flow stopped, for the failure report.
      const ctxs = this.browser ? this.browser.contexts() : [];
      const pages = ctxs.filter((c) => c !== this.axeContext).flatMap((c) => c.pages());
      const last = pages[pages.length - 1];
      if (last) {
        shot = join(this.artifactDir, `${this.name}-${this.locale}-FAILED.png`);
        await last.screenshot({ path: shot, fullPage: true });
        const body = await last.evaluate(() => document.body ? document.body.innerText : '');
        log(`failed at ${last.url()}:\n${body.slice(0, 2000)}`);
      }
    } catch (e) {
      log(`could not capture the failure: ${e.message}`);
    }
    const out = {
      ok: false,
      flow: this.name,
      locale: this.locale,
      error: err && err.stack ? err.stack : String(err),
      failure_screenshot: shot,
      problems: this.problems,
      pages: this.pages.map(({ step, url, status, lang, h1 }) => ({ step, url, status, lang, h1 })),
      callbacks: this.callbacks,
      console: this.consoleErrors,
    };
    await this.close();
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exitCode = 1;
  }

  async close() {
    if (this.browser) {
      await this.browser.close().catch(() => {});
      this.browser = null;
    }
  }
}

/**
 * Run `body(flow)` with set-up, and the result line whatever happens. `name` (or
 * `name(input)`) prefixes the screenshots.
 */
export async function run(name, body) {
  let flow;
  try {
    const input = readInput();
    flow = new Flow(typeof name === 'function' ? name(input) : name, input);
    await flow.open();
    const extra = await body(flow);
    await flow.finish(extra || {});
  } catch (err) {
    if (flow) await flow.fail(err);
    else {
      process.stdout.write(`${JSON.stringify({ ok: false, flow: String(name), error: String(err && err.stack ? err.stack : err) })}\n`);
      process.exitCode = 1;
    }
  }
}
