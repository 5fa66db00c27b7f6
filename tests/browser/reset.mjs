// Flow (b): a wrong password (the error page) → "Forgot password?" → reset email read
// from the outbox → new password → the old password no longer works, the new one does →
// consent → callback. The reset link is single use. In French the language is chosen
// with the pages' language switcher (not ui_locales), proving the switcher works.
//
// Input (besides the harness's): email, password (the current one), new_password.
// Result: callback, emails (ids read).

import { check, run } from './lib/harness.mjs';
import { authorize, consent, identifier, password, switchLanguage, visitAs } from './lib/steps.mjs';

await run('reset', async (flow) => {
  const { email, new_password: newPassword } = flow.input;
  const ctx = await flow.newContext();
  const page = await ctx.newPage();

  if (flow.locale === 'en') {
    await authorize(flow, page);
  } else {
    // Start in the browser's language (English), then switch with nav#languages.
    await flow.goto(page, flow.authorizeUrl());
    await flow.visit(page, 'login-before-switch', { path: /\/login$/, lang: 'en' });
    await switchLanguage(flow, page, flow.locale);
  }
  await identifier(flow, page, email);
  // A wrong password: the page says so, in an alert tied to the field.
  await password(flow, page, 'not-my-password-123');
  await visitAs(flow, page, 'password-wrong', 'password', { path: /\/login\/password$/ });
  check((await page.locator('[role=alert]').count()) > 0, 'a wrong password shows no role=alert message');

  const forgot = page.locator('a#forgot-password');
  check((await forgot.count()) === 1, 'the password page has no a#forgot-password');
  await flow.navigate(page, () => forgot.click());
  await visitAs(flow, page, 'forgot', 'forgot', { path: /\/password\/forgot$/, status: 200 });
  check((await page.locator('input#email').count()) === 1, 'the forgot-password page has no input#email');
  await page.fill('#email', email);
  await flow.click(page, 'form:has(#email) button[type=submit]');
  await visitAs(flow, page, 'forgot-sent', 'forgot_sent', { status: 200 });

  const mail = await flow.email(email, 'reset_email');
  const link = flow.linkIn(mail, '/password/reset?');
  await flow.goto(page, link);
  await visitAs(flow, page, 'reset', 'reset', { path: /\/password\/reset$/, status: 200 });
  for (const sel of ['input#password', 'input#password-confirm']) {
    check((await page.locator(sel).count()) === 1, `the reset page has no ${sel}`);
  }
  // Two different passwords: refused, tied to the field.
  await page.fill('#password', newPassword);
  await page.fill('#password-confirm', `${newPassword}x`);
  await flow.click(page, 'form:has(#password) button[type=submit]');
  await visitAs(flow, page, 'reset-mismatch', 'reset', { path: /\/password\/reset$/ });
  check((await page.locator('[role=alert]').count()) > 0, 'different passwords show no role=alert message');
  await page.fill('#password', newPassword);
  await page.fill('#password-confirm', newPassword);
  await flow.click(page, 'form:has(#password) button[type=submit]');
  await visitAs(flow, page, 'reset-done', 'reset_done', { status: 200 });
  const changed = await flow.email(email, 'password_changed');

  // The link is single use.
  await flow.goto(page, link);
  const reused = await visitAs(flow, page, 'reset-link-reused', 'error');
  check(reused.status >= 400, `a used reset link answered ${reused.status}`);

  // Log in again: the old password is refused, the new one works.
  const ctx2 = await flow.newContext();
  const page2 = await ctx2.newPage();
  await authorize(flow, page2);
  await identifier(flow, page2, email, 'again-login');
  await password(flow, page2, flow.input.password, 'again-password');
  await visitAs(flow, page2, 'again-old-password-refused', 'password', { path: /\/login\/password$/ });
  check((await page2.locator('[role=alert]').count()) > 0, 'the old password was not refused');
  await page2.fill('#password', newPassword);
  await flow.click(page2, 'main form button[type=submit]');
  await consent(flow, page2, 'accept');
  const callback = flow.lastCallback();
  check(new URL(callback).searchParams.has('code'), `no code in ${callback}`);
  return { callback, emails: [mail.id, changed.id] };
});
