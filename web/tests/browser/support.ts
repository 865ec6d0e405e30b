import { expect, type Page } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { join, resolve } from "node:path";

export const PASSWORD = "correct horse battery staple";
export const SCREENSHOTS = resolve(__dirname, "../../artifacts/screenshots");
export const FIXTURES = resolve(__dirname, "../../../tests/fixtures/documents");

export function main(): string {
  const url = process.env.STRATUS_URL;
  if (!url) throw new Error("STRATUS_URL is unset: run through playwright.config.ts");
  return url;
}

export function shortTtl(): string {
  const url = process.env.STRATUS_SHORT_TTL_URL;
  if (!url) throw new Error("STRATUS_SHORT_TTL_URL is unset: run through playwright.config.ts");
  return url;
}

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
}

/** A full-page screenshot of what the user sees, kept as a test artifact. */
export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Register through the sign-up page; it signs in and lands on the documents. */
export async function signUp(page: Page, base: string, email: string, name = "Ada"): Promise<void> {
  await page.goto(`${base}/signup`);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(`${base}/app/documents`);
  await expect(page.getByRole("heading", { level: 1, name: "Documents" })).toBeVisible();
}

export async function logIn(page: Page, base: string, email: string, password = PASSWORD): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(`${base}/app/documents`);
}

/** The page's own live regions (Next.js adds a route announcer with role="alert" of its own). */
export const STATUS = 'main p.status[role="status"]';
export const ALERT = 'main p.error[role="alert"]';

type SentEmail = { subject: string; body: string; destinations: { ToAddresses: string[] } };

/** The emails SES (moto, in the runner) has sent to ``address`` with ``subject``: the inbox. */
export async function inbox(address: string, subject: string): Promise<SentEmail[]> {
  const moto = process.env.STRATUS_MOTO_URL;
  if (!moto) throw new Error("STRATUS_MOTO_URL is unset: run through playwright.config.ts");
  const data = (await (await fetch(`${moto}/moto-api/data.json`)).json()) as {
    ses?: { Message?: SentEmail[] };
  };
  return (data.ses?.Message ?? []).filter(
    (m) => m.subject === subject && m.destinations.ToAddresses.includes(address),
  );
}
