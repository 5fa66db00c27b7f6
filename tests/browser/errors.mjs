// Error pages: requests the pages cannot serve (unknown client, unregistered redirect URI,
// an unknown tenant, a consent page opened without an authorization request, made-up email links) each show a
// page in the chosen language that says what happened and what to do, with a 4xx status,
// no stack trace, and no serious accessibility problem.
//
// Input: the harness's (client_id, redirect_uri, …).
// Result: pages.

import { check, run } from './lib/harness.mjs';
import { visitAs } from './lib/steps.mjs';

await run('errors', async (flow) => {
  const iss = flow.issuer();
  const lang = flow.locale === 'en' ? '' : `ui_locales=${flow.locale}`;
  const withLang = (url) => (lang ? `${url}${url.includes('?') ? '&' : '?'}${lang}` : url);
  const cases = [
    ['unknown-client', flow.authorizeUrl({ ...flow.localeParams(), client_id: 'no-such-client' })],
    ['unregistered-redirect', flow.authorizeUrl({ ...flow.localeParams(), redirect_uri: 'https://evil.example/cb' })],
    ['unknown-tenant', withLang(`${flow.base}/t/no-such-tenant/login`)],
    ['consent-without-request', withLang(`${iss}/consent`)],
    ['reset-bad-ticket', withLang(`${iss}/password/reset?ticket=made-up-ticket`)],
    ['verify-bad-ticket', withLang(`${iss}/verify-email/confirm?ticket=made-up-ticket`)],
    ['unlock-bad-ticket', withLang(`${iss}/unlock?ticket=made-up-ticket`)],
  ];
  const ctx = await flow.newContext();
  const page = await ctx.newPage();
  for (const [step, url] of cases) {
    await flow.goto(page, url);
    const rec = await visitAs(flow, page, `error-${step}`, 'error');
    check(rec.status >= 400 && rec.status < 500, `${step}: status ${rec.status} (${url})`);
    const text = await page.locator('main').innerText();
    check(
      !/panicked|RUST_BACKTRACE|stack backtrace|\bat src\/|\.rs:\d+/.test(text),
      `${step}: the page shows internals: ${text.slice(0, 300)}`,
    );
    const paragraphs = await page.locator('main p').count();
    if (paragraphs < 1) flow.problems.push(`${step}: the error page explains nothing (no paragraph under the heading)`);
  }
  check(flow.callbacks.length === 0, `an error page redirected to the client: ${flow.callbacks.join(', ')}`);
  return {};
});
