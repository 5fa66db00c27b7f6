// Flow (a): signup → verification email read from the outbox → login → consent
// (third-party application) → callback with code, state and iss.
//
// Input (besides the harness's): email, password, name, mode ("code": the 6-digit code
// typed on the verify page; "link": the email's link, opened in another browser after
// asking for the email again with #resend), app_name, scope_words.
// Result: callback (the accepted request's URL), denied (the callback after "deny", code
// mode), emails (ids read).

import { check, run } from './lib/harness.mjs';
import { authorize, consent, fillIf, login, visitAs } from './lib/steps.mjs';

await run((input) => `signup-${input.mode}`, async (flow) => {
  const { email, password, name, mode } = flow.input;
  check(mode === 'code' || mode === 'link', `mode must be "code" or "link", not ${mode}`);
  const ctx = await flow.newContext();
  const page = await ctx.newPage();

  // The application sends the person to log in; they have no account yet.
  await authorize(flow, page);
  await visitAs(flow, page, 'login', 'login', { path: /\/login$/, status: 200 });
  const signupOnLogin = page.locator('a#signup-link');
  if ((await signupOnLogin.count()) > 0) {
    await flow.navigate(page, () => signupOnLogin.click());
  } else {
    // The contract puts the signup link on the password step.
    await page.fill('#email', email);
    await flow.click(page, 'main form button[type=submit]');
    await visitAs(flow, page, 'password', 'password', { path: /\/login\/password$/ });
    const link = page.locator('a#signup-link');
    check((await link.count()) === 1, 'neither the login nor the password page has a#signup-link');
    await flow.navigate(page, () => link.click());
  }

  await visitAs(flow, page, 'signup', 'signup', { path: /\/signup$/, status: 200 });
  for (const sel of ['input#email[name=email]', 'input#password[name=password]']) {
    check((await page.locator(sel).count()) === 1, `the signup page has no ${sel}`);
  }
  // A weak password first: refused with an explanation tied to the field.
  await page.fill('#email', email);
  await page.fill('#password', 'password');
  await fillIf(page, '#name', name);
  await flow.click(page, 'form:has(#password) button[type=submit]');
  await visitAs(flow, page, 'signup-weak-password', 'signup', { path: /\/signup$/ });
  const alerts = await page.locator('[role=alert]').count();
  check(alerts > 0, 'a refused password shows no role=alert message');
  const described = await page.locator('#password').getAttribute('aria-describedby');
  check(described, 'the refused password field has no aria-describedby');

  await page.fill('#email', email);
  await page.fill('#password', password);
  await fillIf(page, '#name', name);
  await flow.click(page, 'form:has(#password) button[type=submit]');
  await visitAs(flow, page, 'verify-email', 'verify', { path: /\/verify-email$/, status: 200 });
  check((await page.locator('input#code').count()) === 1, 'the verify page has no input#code');
  check((await page.locator('#resend').count()) === 1, 'the verify page has no #resend');

  let mail = await flow.email(email, 'verify_email');
  const emails = [mail.id];
  const result = { emails };

  if (mode === 'code') {
    // A wrong code first: refused, tied to the field.
    const code = flow.codeIn(mail);
    const wrong = code === '000000' ? '111111' : '000000';
    await page.fill('#code', wrong);
    await flow.click(page, 'form:has(#code) button[type=submit]');
    await visitAs(flow, page, 'verify-wrong-code', 'verify', { path: /\/verify-email$/ });
    check((await page.locator('[role=alert]').count()) > 0, 'a wrong code shows no role=alert message');
    await page.fill('#code', code);
    await flow.click(page, 'form:has(#code) button[type=submit]');
    // Verified: back to the authorization request, which asks for consent (third party).
    await consent(flow, page, 'deny', 'consent-deny');
    const denied = flow.lastCallback();
    const q = new URL(denied).searchParams;
    check(q.get('error') === 'access_denied', `deny did not answer access_denied: ${denied}`);
    check(q.get('state') === flow.input.state, `deny lost the state: ${denied}`);
    check(!q.has('code'), `deny returned a code: ${denied}`);
    result.denied = denied;
  } else {
    // Ask for the email again, then open its link in another browser (a mail client).
    await flow.click(page, 'form:has(#resend) #resend');
    await visitAs(flow, page, 'verify-resent', 'verify', { path: /\/verify-email/ });
    mail = await flow.email(email, 'verify_email');
    emails.push(mail.id);
    const link = flow.linkIn(mail, '/verify-email/confirm?');
    const other = await flow.mailContext();
    const mailPage = await other.newPage();
    await flow.goto(mailPage, link);
    await visitAs(flow, mailPage, 'verify-confirmed', 'verified', { status: 200 });
    // The link is single use.
    await flow.goto(mailPage, link);
    const again = await visitAs(flow, mailPage, 'verify-link-reused', 'error');
    check(again.status >= 400, `a used verification link answered ${again.status}`);
    await other.close();
  }

  // A new browser: log in with the new account, agree, and return to the application.
  const ctx2 = await flow.newContext();
  const page2 = await ctx2.newPage();
  await authorize(flow, page2);
  await login(flow, page2, email, password, 'again-');
  await consent(flow, page2, 'accept', 'consent-accept');
  result.callback = flow.lastCallback();
  check(new URL(result.callback).searchParams.has('code'), `no code in ${result.callback}`);
  return result;
});
