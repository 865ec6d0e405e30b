// The whole journey of a new member, in a real browser, against the real system.
import { expect, test } from "@playwright/test";
import { join } from "node:path";
import { ALERT, FIXTURES, PASSWORD, STATUS, main, shot, signUp, uniqueEmail } from "./support";

test("a member signs up, uploads a PDF, finds it, is notified, renames, deletes and logs out", async ({
  page,
  context,
}) => {
  const base = main();
  const email = uniqueEmail("journey");

  // The page runs under the CDN's Content-Security-Policy (the runner sends the same one)
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });

  // The sign-up page, then straight into the app
  const signup = await page.goto(`${base}/signup`);
  expect(signup?.headers()["content-security-policy"]).toContain("connect-src 'self' http://127.0.0.1:");
  expect(signup?.headers()["x-frame-options"]).toBe("DENY");
  await shot(page, "01-signup");
  await signUp(page, base, email, "Ada Lovelace");
  await expect(page.getByText(`${email} (member)`)).toBeVisible();

  // The refresh token sits in an HttpOnly, Secure, SameSite=Strict cookie on /auth, which the
  // browser kept on http://127.0.0.1 (a potentially trustworthy origin) and no script can read
  const cookies = await context.cookies(`${base}/auth/refresh`);
  const refresh = cookies.find((c) => c.name === "stratus_refresh");
  expect(refresh, JSON.stringify(cookies)).toBeDefined();
  expect(refresh).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/auth" });
  expect(await page.evaluate(() => document.cookie)).not.toContain("stratus_refresh");
  expect(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage))).not.toMatch(
    /eyJ/, // no JWT stored anywhere a script could take it
  );

  // A reload loses the in-memory access token; the session comes back through the cookie
  await page.reload();
  await expect(page.getByText(`${email} (member)`)).toBeVisible();

  // Upload the PDF from the page, through the presigned POST, with progress
  await page.getByLabel(/^Title/).fill("Quarterly report");
  await page.getByLabel(/^File/).setInputFiles(join(FIXTURES, "two-pages.pdf"));
  // (cross-origin: the XHR's progress listener makes the browser preflight S3 first, and the
  // POST is sent only if S3's CORS answer allows this origin)
  const upload = page.waitForResponse((r) => r.request().method() === "POST" && !r.url().startsWith(base));
  await page.getByRole("button", { name: "Upload" }).click();
  expect((await upload).status()).toBe(204);
  const row = page.getByRole("row", { name: /Quarterly report/ });
  await expect(row).toBeVisible();

  // Live status: queued/processing, then ready, announced in the status region
  await expect(row.locator("[data-status]")).toHaveAttribute("data-status", "ready", { timeout: 45_000 });
  await expect(page.locator(STATUS).filter({ hasText: "“Quarterly report” is ready." })).toBeVisible();
  await shot(page, "02-documents-ready");

  // Download: a presigned GET that returns the original bytes
  const downloading = page.waitForEvent("download");
  await row.getByRole("button", { name: "Download Quarterly report" }).click();
  const file = await downloading;
  expect(file.suggestedFilename()).toBe("two-pages.pdf");

  // Search finds it, with the query's words highlighted
  await page.getByRole("link", { name: "Search" }).click();
  await page.getByLabel("What are you looking for?").fill("overdue invoice");
  await page.getByRole("button", { name: "Search" }).click();
  const results = page.getByRole("list", { name: "Results" });
  await expect(results.getByText("Quarterly report").first()).toBeVisible();
  await expect(results.locator("mark").first()).toBeVisible();
  await shot(page, "03-search");

  // The document_ready notification has arrived, and can be marked read
  await page.getByRole("link", { name: "Notifications" }).click();
  const ready = page.locator('[data-kind="document_ready"]');
  await expect(ready).toContainText("“Quarterly report” is ready");
  await expect(page.locator('[data-kind="welcome"]')).toContainText("Ada Lovelace");
  await shot(page, "04-notifications");
  await ready.getByRole("button", { name: /Mark .* as read/ }).click();
  await expect(ready).toContainText("read");
  await expect(ready.getByRole("button")).toHaveCount(0);

  // Rename it
  await page.getByRole("link", { name: "Documents" }).click();
  await page.getByRole("button", { name: "Rename Quarterly report" }).click();
  await page.getByLabel("New title").fill("Annual report");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator(STATUS)).toHaveText("Renamed to “Annual report”.");
  await expect(page.getByRole("row", { name: /Annual report/ })).toBeVisible();

  // Delete it (with a confirmation); it is gone, from the list and from search
  await page.getByRole("button", { name: "Delete Annual report" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.locator(STATUS)).toHaveText("“Annual report” was deleted.");
  await expect(page.getByText("No documents yet.")).toBeVisible();
  await page.getByRole("link", { name: "Search" }).click();
  await page.getByLabel("What are you looking for?").fill("overdue invoice");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByText("Nothing matched.")).toBeVisible();

  // A file that cannot be parsed ends failed, and the page says why
  await page.getByRole("link", { name: "Documents" }).click();
  await page.getByLabel(/^File/).setInputFiles(join(FIXTURES, "corrupt.pdf"));
  await page.getByRole("button", { name: "Upload" }).click();
  const broken = page.getByRole("row", { name: /corrupt\.pdf/ });
  await expect(broken.locator("[data-status]")).toHaveAttribute("data-status", "failed", { timeout: 45_000 });
  await expect(page.locator(ALERT)).toContainText("“corrupt.pdf” failed:");
  await broken.getByRole("button", { name: "Delete corrupt.pdf" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.getByText("No documents yet.")).toBeVisible();

  // The account page
  await page.getByRole("link", { name: "Account" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Your account" })).toBeFocused();
  await shot(page, "05-account");

  // A member has no users page: no link to it, and the page itself says so
  await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
  await page.goto(`${base}/app/admin/users`);
  await expect(page.getByText("Only admins may see this page.")).toBeVisible();

  // Log out: back to sign in, the cookie is cleared, and a reload does not bring the session back
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(`${base}/login`);
  await shot(page, "06-login");
  expect((await context.cookies(`${base}/auth/refresh`)).find((c) => c.name === "stratus_refresh")).toBeUndefined();
  await page.goto(`${base}/app/documents`);
  await expect(page).toHaveURL(`${base}/login`);

  // A wrong password is refused with a readable message
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(`${PASSWORD} nope`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator(ALERT)).toHaveText("The email or password is not correct.");
  expect(violations).toEqual([]);
});
