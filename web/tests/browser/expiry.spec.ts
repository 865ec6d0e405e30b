// The access token expires for real (the runner issues 60-second tokens); the page renews it
// silently: on the 401, and before expiry by its timer.
//
// The page's clock is paused (Playwright's clock) so that its own renewal timer cannot fire
// while the server's clock runs on: as on a laptop that slept, the page then holds an access
// token that the server finds expired. Nothing on the server side is faked.
import { expect, test } from "@playwright/test";
import { shortTtl, signUp, uniqueEmail } from "./support";

const TTL_MS = 60_000;
const LEEWAY_MS = 5_000; // the authorizer's leeway on exp

test("an expired access token is refreshed from the cookie on the 401, and the page carries on", async ({
  page,
}) => {
  test.setTimeout(150_000);
  const base = shortTtl();
  await page.clock.install();
  await signUp(page, base, uniqueEmail("expiry"));
  await page.clock.pauseAt(new Date(Date.now() + 1_000)); // the page's timers stop here

  const calls: string[] = [];
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith("/notifications") || path === "/auth/refresh") calls.push(`${path} ${r.status()}`);
  });

  // Wait until the server no longer accepts the access token the page holds
  await page.waitForTimeout(TTL_MS + LEEWAY_MS + 2_000);

  // When the user opens the notifications
  await page.getByRole("link", { name: "Notifications" }).click();
  // Then the page got a 401, refreshed from the cookie, retried, and shows them
  await expect(page.locator('[data-kind="welcome"]')).toBeVisible();
  expect(calls.slice(0, 3)).toEqual(["/notifications 401", "/auth/refresh 200", "/notifications 200"]);
  await expect(page).toHaveURL(`${base}/app/notifications`);

  // And before the next expiry, the page's timer renews the token by itself
  calls.length = 0;
  await page.clock.runFor(TTL_MS);
  await expect.poll(() => calls.filter((c) => c === "/auth/refresh 200").length).toBeGreaterThan(0);
});
