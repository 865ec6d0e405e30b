// Signing in and out in browser session mode, through the typed client.
import { anonymous, api, describe } from "@/api/client";
import { adopt, forget, getSession, refresh, sessionHeaders, signedIn } from "./session";

const header = { "X-Session-Mode": sessionHeaders["X-Session-Mode"] };

async function loadMe(): Promise<boolean> {
  const { data } = await api.GET("/auth/me");
  if (!data) return false;
  signedIn(data);
  return true;
}

/** Sign in; the error message to show, or null. */
export async function logIn(email: string, password: string): Promise<string | null> {
  const { data, error, response } = await anonymous.POST("/auth/login", {
    body: { email, password },
    params: { header },
  });
  if (!data) {
    return response.status === 401 ? "The email or password is not correct." : describe(error, response);
  }
  adopt(data);
  return (await loadMe()) ? null : "Signed in, but your account could not be read.";
}

/** On a page load: pick the session up again from the refresh cookie, if there is one. */
let restoring: Promise<void> | null = null;
export function restore(): Promise<void> {
  if (getSession().status !== "unknown") return Promise.resolve();
  restoring ??= (async () => {
    if (!((await refresh()) && (await loadMe()))) forget();
  })();
  return restoring.finally(() => {
    restoring = null;
  });
}

export async function logOut(): Promise<void> {
  try {
    await api.POST("/auth/logout", { params: { header } });
  } finally {
    forget("You are signed out.");
  }
}

export async function reloadMe(): Promise<void> {
  await loadMe();
}
