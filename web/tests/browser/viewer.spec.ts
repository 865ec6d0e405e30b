// An admin makes an account a viewer; the viewer reads and searches but cannot upload, and still
// edits its own name (the contract lets every user do so).
import { expect, test } from "@playwright/test";
import { ADMIN_EMAIL, ADMIN_PASSWORD } from "./global-setup";
import { STATUS, logIn, main, shot, signUp, uniqueEmail } from "./support";

test("an admin makes a member a viewer, who sees no upload control but still renames itself", async ({
  browser,
}) => {
  const base = main();
  const email = uniqueEmail("viewer");

  // Given a member who signed up in one browser
  const member = await browser.newContext();
  const memberPage = await member.newPage();
  await signUp(memberPage, base, email, "Vera Viewer");
  await expect(memberPage.getByLabel(/^File/)).toBeVisible(); // a member may upload

  // When the admin, in another browser, changes its role on the users page
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  await logIn(adminPage, base, ADMIN_EMAIL, ADMIN_PASSWORD);
  await adminPage.getByRole("link", { name: "Users" }).click();
  await expect(adminPage.getByRole("heading", { level: 1, name: "Users" })).toBeVisible();
  const row = adminPage.locator(`tr[data-email="${email}"]`);
  await row.getByLabel(`Role of ${email}`).selectOption("viewer");
  await expect(adminPage.locator(STATUS)).toHaveText(`${email} is now viewer.`);
  await shot(adminPage, "07-admin-users");

  // Then the member's old session is over (a role change revokes it): its next call is refused,
  // the silent refresh fails too, and the page sends it back to sign in with the reason
  await memberPage.getByRole("link", { name: "Notifications" }).click();
  await expect(memberPage).toHaveURL(`${base}/login`);
  await expect(memberPage.getByText("Your session has ended: sign in again.")).toBeVisible();

  // And signed in again, it is a viewer: no upload control, a note saying why, no write buttons
  await logIn(memberPage, base, email);
  await expect(memberPage.getByText(`${email} (viewer)`)).toBeVisible();
  await expect(memberPage.getByText(/Your role is viewer/)).toBeVisible();
  await expect(memberPage.getByLabel(/^File/)).toHaveCount(0);
  await expect(memberPage.getByRole("button", { name: "Upload" })).toHaveCount(0);
  await shot(memberPage, "08-viewer-documents");

  // And a viewer still edits its own name, as every user may (the contract)
  await memberPage.getByRole("link", { name: "Account" }).click();
  await memberPage.getByRole("textbox", { name: "Name" }).fill("Vera V.");
  await memberPage.getByRole("button", { name: "Save the name" }).click();
  await expect(memberPage.locator(STATUS)).toHaveText("Your name was saved.");
  await memberPage.reload();
  await expect(memberPage.getByRole("textbox", { name: "Name" })).toHaveValue("Vera V."); // kept
  // Search still works for a viewer
  await memberPage.getByRole("link", { name: "Search" }).click();
  await memberPage.getByLabel("What are you looking for?").fill("anything at all");
  await memberPage.getByRole("button", { name: "Search" }).click();
  await expect(memberPage.getByText("Nothing matched.")).toBeVisible();

  // And the admin deactivates the account
  await row.getByRole("button", { name: `Deactivate ${email}` }).click();
  await expect(adminPage.locator(STATUS)).toHaveText(`${email} is deactivated.`);
  await expect(row.getByRole("button", { name: `Reactivate ${email}` })).toBeVisible();

  // And, deactivated, its session is gone at once: any page sends it back to sign in
  await memberPage.goto(`${base}/app/admin/users`);
  await expect(memberPage).toHaveURL(`${base}/login`);
  await member.close();
  await admin.close();
});
