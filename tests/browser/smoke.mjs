// Smoke flow: the login page of an authorization request opens in Chromium, passes the
// hosted-page contract checks and axe-core, and is saved as a screenshot.
import { check, run } from './lib/harness.mjs';

await run('smoke', async (flow) => {
  const ctx = await flow.newContext();
  const page = await ctx.newPage();
  await flow.goto(page, flow.authorizeUrl(flow.localeParams()));
  await flow.visit(page, 'login', { status: 200, path: /\/login$/ });
  check(await page.locator('#email').count() === 1, 'the login page has no #email field');
  return {};
});
