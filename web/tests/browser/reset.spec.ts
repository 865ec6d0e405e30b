// The password reset, as a user does it: ask on the page, open the emailed link, choose a new
// password on the reset page, sign in with it.
import { expect, test } from "@playwright/test";
import { ALERT, PASSWORD, STATUS, inbox, logIn, main, shot, signUp, uniqueEmail } from "./support";

const NEW_PASSWORD = "a brand new passphrase for the browser";

test("a user resets a forgotten password through the emailed link", async ({ page }) => {
  const base = main();
  const email = uniqueEmail("reset");
  await signUp(page, base, email);
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(`${base}/login`);

  // Ask for the link
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Reset your password" })).toBeFocused();
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Email me a reset link" }).click();
  await expect(page.locator(STATUS)).toContainText(`If an account exists for ${email}`);
  await shot(page, "11-forgot-password");

  // The email links to this origin's reset page, the token in the fragment
  await expect.poll(async () => (await inbox(email, "Reset your Stratus password")).length, { timeout: 45_000 }).toBe(1);
  const [mail] = await inbox(email, "Reset your Stratus password");
  const link = /href="([^"]+)"/.exec(mail!.body)?.[1]?.replaceAll("&amp;", "&");
  expect(link).toMatch(new RegExp(`^${base}/reset-password#token=[A-Za-z0-9_-]{32,}$`));

  // The reset page takes the token from the link and takes it out of the address bar
  await page.goto(link!);
  await expect(page.getByLabel(/^Reset token/)).toHaveValue(link!.split("#token=")[1]!);
  await expect(page).toHaveURL(`${base}/reset-password`);
  await shot(page, "09-reset-password");
  await page.getByLabel(/^New password \d/).fill(NEW_PASSWORD);
  await page.getByLabel("New password, again").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page.locator(STATUS)).toHaveText("Your password was changed. Every session was signed out.");

  // The new password works, the old one does not, and the link is spent
  await page.getByRole("link", { name: "Sign in with the new password" }).click();
  await expect(page).toHaveURL(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator(ALERT)).toHaveText("The email or password is not correct.");
  await logIn(page, base, email, NEW_PASSWORD);
  await page.goto(link!);
  await page.getByLabel(/^New password \d/).fill(NEW_PASSWORD);
  await page.getByLabel("New password, again").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Set the new password" }).click();
  await expect(page.locator(ALERT)).toContainText("This reset link is not valid any more");
});
