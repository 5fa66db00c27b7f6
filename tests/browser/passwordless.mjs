// Flow (e): home-realm discovery to a passwordless `email` connection: the identifier
// step sends a code instead of asking for a password → the code page (a wrong code shows
// its error, then "send a new code") → the newest code, read from the outbox → consent →
// callback.
//
// Input (besides the harness's): email (an address of the organization's domain).
// Result: callback, emails.

import { check, run } from './lib/harness.mjs';
import { authorize, consent, identifier, visitAs } from './lib/steps.mjs';

await run('passwordless', async (flow) => {
  const { email } = flow.input;
  const ctx = await flow.newContext();
  const page = await ctx.newPage();
  await authorize(flow, page);
  await identifier(flow, page, email);
  await visitAs(flow, page, 'code', 'login_code', { path: /\/login\/code$/ });
  check((await page.locator('input#password').count()) === 0, 'the code page asks for a password');
  check(
    (await page.locator('input#code[autocomplete=one-time-code]').count()) === 1,
    'the code page has no input#code with autocomplete=one-time-code',
  );

  // A wrong code: the same page, the error tied to the field.
  const first = await flow.email(email, 'login_code');
  const right = flow.codeIn(first);
  await page.fill('#code', right === '000000' ? '111111' : '000000');
  await flow.click(page, 'main form button[type=submit]');
  await visitAs(flow, page, 'code-wrong', 'login_code', { status: 400 });
  check((await page.locator('[role=alert]').count()) > 0, 'a wrong code shows no role=alert message');

  // Another code: the older one stops working, the new one logs in.
  await flow.click(page, '#resend');
  await visitAs(flow, page, 'code-resent', 'login_code', { status: 200 });
  const mails = (await flow.outboxList(email)).filter((m) => m.template === 'login_code');
  check(mails.length >= 2, `expected two login_code emails, found ${mails.length}`);
  const second = await flow.email(email, 'login_code');
  check(second.id !== first.id, 'the new code came in the same email');
  await page.fill('#code', flow.codeIn(second));
  await flow.click(page, 'main form button[type=submit]');
  await consent(flow, page, 'accept');
  const callback = flow.lastCallback();
  check(new URL(callback).searchParams.has('code'), `no code in ${callback}`);
  return { callback, emails: [first.id, second.id] };
});
