// Flow (d): a hostile organization's branding (script in every text field, CSS trying to
// break out of its stylesheet) runs no script on its own pages — neither with the CSP
// enforced nor with it bypassed (so escaping holds on its own) — and does not restyle
// another organization's login page.
//
// axe-core runs on organization B's pages only: organization A's own CSS makes its pages
// unreadable on purpose (green on red), which is its administrator's doing.
//
// Input (besides the harness's): org_a (hostile), org_b (benign), email (for the password
// step), markers (texts that must appear literally — escaped — on org A's pages),
// org_b_logo (org B has an uploaded logo).
// Result: styles of org B before and after visiting org A, stylesheets of both.

import { check, run } from './lib/harness.mjs';
import { authorize, fillIf } from './lib/steps.mjs';

/** Computed styles a stylesheet of org A would change on org B's page. */
async function styles(page) {
  return page.evaluate(() => {
    const props = [
      'color',
      'backgroundColor',
      'backgroundImage',
      'outlineStyle',
      'outlineWidth',
      'outlineColor',
      'borderTopColor',
      'display',
      'visibility',
      'fontFamily',
      'fontSize',
      'content',
    ];
    const sels = ['html', 'body', 'main', 'h1', 'label', '#email', 'button[type=submit]', 'a', 'nav#languages'];
    const out = {};
    for (const s of sels) {
      const e = document.querySelector(s);
      if (!e) continue;
      const cs = getComputedStyle(e);
      out[s] = Object.fromEntries(props.map((p) => [p, cs[p]]));
    }
    return out;
  });
}

async function sheets(page) {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('link[rel~=stylesheet]')).map((l) => l.getAttribute('href')),
  );
}

/** Nothing of the hostile branding ran or became markup on this page. */
async function inert(flow, page, where) {
  const r = await page.evaluate(() => ({
    pwned: window.__pwned,
    scripts: Array.from(document.querySelectorAll('script')).map((s) => s.outerHTML.slice(0, 120)),
    handlers: Array.from(document.querySelectorAll('*'))
      .filter((e) => Array.from(e.attributes).some((a) => /^on/i.test(a.name)))
      .map((e) => e.outerHTML.slice(0, 120)),
    iframes: document.querySelectorAll('iframe, object, embed').length,
    jsLinks: Array.from(document.querySelectorAll('[href], [src], [action], [formaction]'))
      .filter((e) =>
        ['href', 'src', 'action', 'formaction'].some((a) => /^\s*javascript:/i.test(e.getAttribute(a) || '')),
      )
      .map((e) => e.outerHTML.slice(0, 120)),
    text: document.body ? document.body.innerText : '',
  }));
  check(r.pwned === undefined, `${where}: window.__pwned = ${JSON.stringify(r.pwned)}: injected script ran`);
  check(r.scripts.length === 0, `${where}: <script> elements in the page: ${r.scripts.join(' ')}`);
  check(r.handlers.length === 0, `${where}: elements with on* handlers: ${r.handlers.join(' ')}`);
  check(r.iframes === 0, `${where}: iframe/object/embed in the page`);
  check(r.jsLinks.length === 0, `${where}: javascript: URLs: ${r.jsLinks.join(' ')}`);
  return r.text;
}

await run('branding', async (flow) => {
  const { org_a: orgA, org_b: orgB, email } = flow.input;
  const markers = flow.input.markers || [];
  check(orgA && orgB, 'input needs org_a and org_b');
  const ctx = await flow.newContext();
  const page = await ctx.newPage();

  // Org B first: its look before anything of org A was loaded in this browser.
  await authorize(flow, page, { organization: orgB });
  await flow.visit(page, 'org-b-login', { path: /\/login$/, status: 200 });
  await inert(flow, page, 'org B login');
  const before = await styles(page);
  const sheetsB = await sheets(page);
  if (flow.input.org_b_logo) {
    // The uploaded logo is served from the server (img-src 'self') and has a text alternative.
    const logo = await page.evaluate(() => {
      const img = document.querySelector('header img');
      return img && { src: img.getAttribute('src'), alt: img.getAttribute('alt'), loaded: img.complete && img.naturalWidth > 0 };
    });
    check(logo, 'org B: no logo <img> in the page header');
    check(logo.loaded, `org B: the logo ${logo.src} did not load`);
    check(logo.alt && logo.alt.trim(), `org B: the logo has no alt text`);
    check(logo.src.includes(orgB), `org B: the logo ${logo.src} is not organization B's`);
  }

  // Org A, hostile: every page with branded text.
  await authorize(flow, page, { organization: orgA });
  await flow.visit(page, 'org-a-login', { path: /\/login$/, status: 200, skipAxe: true });
  let text = await inert(flow, page, 'org A login');
  const sheetsA = await sheets(page);
  const aStyles = await styles(page);
  await page.fill('#email', email);
  await flow.click(page, 'main form button[type=submit]');
  await flow.visit(page, 'org-a-password', { path: /\/login\/password$/, skipAxe: true });
  text += await inert(flow, page, 'org A password');
  // A failed login shows an error message (custom text too).
  await page.fill('#password', 'wrong-password-1');
  await flow.click(page, 'main form button[type=submit]');
  await flow.visit(page, 'org-a-password-error', { path: /\/login\/password$/, skipAxe: true });
  text += await inert(flow, page, 'org A password error');
  for (const [id, step] of [
    ['a#forgot-password', 'org-a-forgot'],
    ['a#signup-link', 'org-a-signup'],
  ]) {
    if ((await page.locator(id).count()) === 0) {
      // Back to a page that has the link: the login page, else the password step.
      await authorize(flow, page, { organization: orgA });
      if ((await page.locator(id).count()) === 0) {
        await fillIf(page, '#email', email);
        await flow.click(page, 'main form button[type=submit]');
      }
    }
    check((await page.locator(id).count()) === 1, `org A: no ${id} on ${page.url()}`);
    await flow.navigate(page, () => page.locator(id).click());
    await flow.visit(page, step, { skipAxe: true });
    text += await inert(flow, page, step);
  }
  for (const m of markers) {
    if (!text.includes(m)) {
      flow.problems.push(`org A's pages do not show the branded text ${JSON.stringify(m)} literally`);
    }
  }

  // Org B again, after org A's stylesheet was loaded in the same browser.
  await authorize(flow, page, { organization: orgB });
  await flow.visit(page, 'org-b-login-after-a', { path: /\/login$/, status: 200 });
  await inert(flow, page, 'org B login after org A');
  const after = await styles(page);
  const sheetsB2 = await sheets(page);
  check(
    JSON.stringify(after) === JSON.stringify(before),
    `org B's computed styles changed after visiting org A:\nbefore ${JSON.stringify(before)}\nafter  ${JSON.stringify(after)}`,
  );
  for (const href of [...sheetsB, ...sheetsB2]) {
    check(!href.includes(orgA), `org B's page loads org A's stylesheet ${href}`);
  }
  const hostile = /rgb\(255, 0, 0\)|rgb\(0, 255, 0\)|rgb\(255, 0, 255\)/;
  for (const [sel, cs] of Object.entries(after)) {
    check(!hostile.test(JSON.stringify(cs)), `org B's ${sel} has org A's colours: ${JSON.stringify(cs)}`);
  }
  const aApplied = hostile.test(JSON.stringify(aStyles));

  // With the page's CSP bypassed, the branded text still runs nothing: it is escaped.
  const raw = await flow.newContext({ bypassCSP: true });
  const rawPage = await raw.newPage();
  await authorize(flow, rawPage, { organization: orgA });
  await rawPage.waitForTimeout(300);
  await inert(flow, rawPage, 'org A login (CSP bypassed)');
  await rawPage.fill('#email', email);
  await flow.click(rawPage, 'main form button[type=submit]');
  await rawPage.waitForTimeout(300);
  await inert(flow, rawPage, 'org A password (CSP bypassed)');
  await raw.close();

  check(flow.dialogs.length === 0, `dialogs opened: ${flow.dialogs.join('; ')}`);
  return { org_b_styles: before, org_a_styles: aStyles, org_a_css_applied: aApplied, sheets_a: sheetsA, sheets_b: sheetsB };
});
