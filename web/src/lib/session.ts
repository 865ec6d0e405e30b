// The browser session: where the tokens live and how they are renewed.
//
// - The access token lives in this module's memory only: never in localStorage or a readable
//   cookie, where any script injected into the page could take it. A reload loses it; the
//   session comes back through the refresh cookie.
// - The refresh token lives in the `stratus_refresh` cookie that the API sets in browser session
//   mode (`X-Session-Mode: cookie`): HttpOnly (no script reads it), Secure, SameSite=Strict and
//   Path=/auth (sent to /auth/* of this site only). The API reads it only with that header,
//   which a cross-site form cannot send.
// - Silent refresh: before the access token expires (a timer), and on any 401 (the timer may
//   not have run: a laptop asleep, a throttled tab). Refresh tokens rotate, and a spent one
//   presented twice revokes the session, so refreshes are serialized: one at a time in a tab
//   (a shared promise) and across tabs (the Web Locks API).
import type { components } from "@/api/schema";

type User = components["schemas"]["UserPublic"];
type Tokens = { access_token: string; expires_in: number };
export type SessionState =
  | { status: "unknown"; user: null }
  | { status: "signed-out"; user: null; reason?: string }
  | { status: "signed-in"; user: User };

const SESSION_MODE = { "X-Session-Mode": "cookie" } as const;
const AUTH_ROUTES = ["/auth/login", "/auth/refresh", "/auth/register", "/auth/password-reset"];

let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
let state: SessionState = { status: "unknown", user: null };
const listeners = new Set<() => void>();

export const sessionHeaders = SESSION_MODE;

export function getSession(): SessionState {
  return state;
}

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function publish(next: SessionState): void {
  state = next;
  listeners.forEach((listener) => listener());
}

/** Keep a fresh access token, and plan its renewal a little before it expires. */
export function adopt(tokens: Tokens): void {
  accessToken = tokens.access_token;
  clearTimeout(refreshTimer);
  const lifetime = tokens.expires_in * 1000;
  const lead = Math.min(60_000, lifetime / 5);
  refreshTimer = setTimeout(() => void refresh(), Math.max(1_000, lifetime - lead));
}

export function signedIn(user: User): void {
  publish({ status: "signed-in", user });
}

/** Forget the session on this page (the cookie is the server's to clear). */
export function forget(reason?: string): void {
  accessToken = null;
  clearTimeout(refreshTimer);
  publish({ status: "signed-out", user: null, reason });
}

async function serialized<T>(task: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && navigator.locks) {
    return navigator.locks.request("stratus-session-refresh", task);
  }
  return task();
}

async function refreshNow(): Promise<boolean> {
  const response = await fetch("/auth/refresh", {
    method: "POST",
    headers: SESSION_MODE,
    credentials: "same-origin",
  });
  if (!response.ok) return false;
  adopt((await response.json()) as Tokens);
  return true;
}

/** A new access token from the refresh cookie; false when there is no live session. */
export function refresh(): Promise<boolean> {
  if (!refreshing) {
    refreshing = serialized(refreshNow)
      .catch(() => false)
      .then((ok) => {
        if (!ok && state.status === "signed-in") forget("Your session has ended: sign in again.");
        return ok;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** The fetch behind the typed client: the bearer token, and one refresh-and-retry on a 401. */
export async function authFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  if (accessToken) request.headers.set("Authorization", `Bearer ${accessToken}`);
  const response = await fetch(request);
  const path = new URL(request.url).pathname;
  if (response.status !== 401 || AUTH_ROUTES.includes(path)) return response;
  if (!(await refresh())) return response;
  retry.headers.set("Authorization", `Bearer ${accessToken}`);
  return fetch(retry);
}
