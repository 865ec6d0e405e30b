// /docs renders the API's operations with nothing but the runner: Swagger UI's files come from
// a Python package, not a CDN (this machine has no internet, and the test would fail if the
// page needed it).
import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { main } from "./support";

test("the API docs render offline and list every operation", async ({ page }) => {
  const base = main();
  const doc = JSON.parse(readFileSync(resolve(__dirname, "../../../docs/openapi.json"), "utf8")) as {
    paths: Record<string, Record<string, unknown>>;
  };
  const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  const offOrigin: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("data:")) offOrigin.push(r.url());
  });
  await page.goto(`${base}/docs`);
  await expect(page.locator(".opblock")).toHaveCount(operations);
  await expect(page.getByText("Stratus API", { exact: false }).first()).toBeVisible();
  await expect(page.locator(".opblock-summary-path", { hasText: "/auth/login" })).toBeVisible();
  await page.screenshot({ path: resolve(__dirname, "../../artifacts/screenshots/10-api-docs.png") });
  expect(offOrigin).toEqual([]);
});
