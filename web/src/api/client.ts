// The typed client: openapi-fetch over the types openapi-typescript generates from
// docs/openapi.json (`make client`). Two instances: `anonymous` for the routes without a token,
// `api` for the rest, whose fetch adds the in-memory access token and, on a 401, refreshes the
// session once (cookie mode) and retries.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { authFetch } from "@/lib/session";

export type Schemas = components["schemas"];
export type User = Schemas["UserPublic"];
export type Document = Schemas["DocumentPublic"];
export type Notification = Schemas["NotificationPublic"];
export type SearchResult = Schemas["SearchResult"];
export type Problem = Schemas["Problem"];
export type Role = User["role"];

// Same origin: the CDN (and the local runner) route the API's paths next to the app's.
const baseUrl = process.env.NEXT_PUBLIC_API_URL ?? "";

export const anonymous = createClient<paths>({ baseUrl, credentials: "same-origin" });
export const api = createClient<paths>({
  baseUrl,
  credentials: "same-origin",
  fetch: (request: Request) => authFetch(request),
});

/** What to tell the user about a failed call: the problem's own detail, and its request id. */
export function describe(error: unknown, response?: Response): string {
  const problem = error as Partial<Problem> | undefined;
  const status = response?.status ?? problem?.status;
  let text = problem?.detail ?? "The request failed.";
  if (status === 403) text = `Not allowed: ${problem?.detail ?? "your role may not do this."}`;
  if (status === 429) {
    const wait = response?.headers.get("Retry-After");
    text = `Too many requests${wait ? `: try again in ${wait} s` : ""}.`;
  }
  if (problem?.errors?.length) {
    text += " " + problem.errors.map((e) => `${e.loc.slice(1).join(".")}: ${e.msg}`).join("; ");
  }
  const id = problem?.request_id ?? response?.headers.get("X-Request-Id");
  return id ? `${text} (request id ${id})` : text;
}
