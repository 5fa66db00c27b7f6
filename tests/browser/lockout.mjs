// Flow (c): wrong passwords until the account locks → the locked page (429 with
// Retry-After), which the right password does not get past → unlock email read from the
// outbox → unlock page → login works (keyboard only) → consent → callback → logout.
//
// Input (besides the harness's): email, password, max_failures (the tenant's
// failed_logins_per_hour; 5 by default).
// Result: callback, failures (the attempt that got the locked page), emails.

import { check, run } from './lib/harness.mjs';
import { authorize, identifier, keyboardLoginAndConsent, password, visitAs } from './lib/steps.mjs';

await run('lockout', async (flow) => {
  const { email } = flow.input;
  const limit = flow.input.max_failures || 5;
  const ctx = await flow.newContext();
  const page = await ctx.newPage();
  await authorize(flow, page);
  await identifier(flow, page, email);

  let failures = 0;
  let resp = null;
  for (;;) {
    failures += 1;
    check(failures <= limit + 1, `still not locked after ${limit + 1} wrong passwords`);
    await page.fill('#password', `wrong-password-${failures}`);
    resp = await flow.click(page, 'main form button[type=submit]');
    if (resp && resp.status() === 429) break;
    // Record the refused attempt like a person would see it (first one only: the rest
    // are the same page).
    if (failures === 1) {
      await visitAs(flow, page, 'password-wrong', 'password', { path: /\/login\/password$/ });
      check((await page.locator('[role=alert]').count()) > 0, 'a wrong password shows no role=alert message');
    }
    check((await page.locator('#password').count()) === 1, `after wrong password ${failures}: no password field`);
  }
  // The limit-th failure locks: its own answer, or at the latest the next attempt's, is
  // the locked page.
  check(failures >= limit, `locked after ${failures - 1} refused wrong passwords, expected ${limit}`);
  const locked = await visitAs(flow, page, 'locked', 'locked', { status: 429 });
  const retry = (await resp.allHeaders())['retry-after'];
  check(retry && Number(retry) > 0, `the locked page (429) has no positive Retry-After: ${retry}`);

  // The right password does not get past the lock.
  await authorize(flow, page);
  await identifier(flow, page, email, 'login-while-locked');
  const r2 = await password(flow, page, flow.input.password, 'password-while-locked');
  check(r2 && r2.status() === 429, `the right password while locked answered ${r2 && r2.status()}`);
  await visitAs(flow, page, 'locked-right-password', 'locked', { status: 429 });

  const mail = await flow.email(email, 'blocked_account');
  const link = flow.linkIn(mail, '/unlock?');
  // Unlock from the email (another browser: the mail client).
  const mailCtx = await flow.mailContext();
  const mailPage = await mailCtx.newPage();
  await flow.goto(mailPage, link);
  await visitAs(flow, mailPage, 'unlocked', 'unlocked', { status: 200, path: /\/unlock$/ });
  await flow.goto(mailPage, link);
  const reused = await visitAs(flow, mailPage, 'unlock-link-reused', 'error');
  check(reused.status >= 400, `a used unlock link answered ${reused.status}`);
  await mailCtx.close();

  // Back in the first browser: the right password now works (keyboard only).
  await authorize(flow, page);
  await keyboardLoginAndConsent(flow, page, email, flow.input.password, 'after-unlock-');
  const callback = flow.lastCallback();
  check(new URL(callback).searchParams.has('code'), `no code in ${callback}`);

  // Logging out without an id_token_hint asks for confirmation (the same templates).
  await flow.goto(page, `${flow.issuer()}/oidc/logout${flow.locale === 'en' ? '' : `?ui_locales=${flow.locale}`}`);
  await visitAs(flow, page, 'logout-confirm', 'logout', { status: 200 });
  await flow.click(page, 'main form button[type=submit]');
  await visitAs(flow, page, 'logged-out', 'logged_out', { status: 200 });

  return { callback, failures, locked_status: locked.status, retry_after: Number(retry), emails: [mail.id] };
});
