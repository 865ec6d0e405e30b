"use client";
// The caller's account: the display name, the password, and a reset link by email.
import { useState } from "react";
import { anonymous, api, describe } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { forget } from "@/lib/session";
import { reloadMe } from "@/lib/auth";
import { useSession } from "@/lib/useSession";
import { Submit } from "@/components/Submit";

export default function Account() {
  const session = useSession();
  const [message, setMessage] = useState<Message>(null);
  if (session.status !== "signed-in") return null;
  const user = session.user;

  async function rename(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const name = String(new FormData(event.currentTarget).get("name"));
    const { data, error, response } = await api.PATCH("/users/{id}", { params: { path: { id: user.id } }, body: { name } });
    if (data) {
      await reloadMe();
      setMessage({ kind: "info", text: "Your name was saved." });
    } else setMessage({ kind: "error", text: describe(error, response) });
  }

  async function changePassword(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const { error, response } = await api.POST("/auth/password", {
      body: { current_password: String(form.get("current")), new_password: String(form.get("new")) },
    });
    if (response.ok) {
      // every session was revoked, this one too: sign in again with the new password
      forget("Your password was changed: sign in with the new one.");
      return;
    }
    setMessage({
      kind: "error",
      text: response.status === 403 ? "The current password is not correct." : describe(error, response),
    });
  }

  async function requestReset() {
    const { error, response } = await anonymous.POST("/auth/password-reset", { body: { email: user.email } });
    setMessage(
      response.ok
        ? { kind: "info", text: `A reset link was emailed to ${user.email}.` }
        : { kind: "error", text: describe(error, response) },
    );
  }

  return (
    <>
      <PageTitle>Your account</PageTitle>
      <Status message={message} />
      <dl>
        <dt>Email</dt>
        <dd>{user.email}</dd>
        <dt>Role</dt>
        <dd>{user.role}</dd>
      </dl>
      <section aria-labelledby="name-heading">
        <h2 id="name-heading">Display name</h2>
        <form className="stack" onSubmit={rename}>
          <label>
            Name
            <input name="name" defaultValue={user.name} required maxLength={200} />
          </label>
          <Submit>Save the name</Submit>
        </form>
      </section>
      <section aria-labelledby="password-heading">
        <h2 id="password-heading">Change your password</h2>
        <form className="stack" onSubmit={changePassword}>
          <label>
            Current password
            <input name="current" type="password" autoComplete="current-password" required />
          </label>
          <label>
            New password <span className="hint">12 to 128 characters; every session is signed out</span>
            <input name="new" type="password" autoComplete="new-password" required minLength={12} maxLength={128} />
          </label>
          <Submit>Change the password</Submit>
        </form>
      </section>
      <section aria-labelledby="reset-heading">
        <h2 id="reset-heading">Forgot it?</h2>
        <button type="button" onClick={() => void requestReset()}>
          Email me a reset link
        </button>
      </section>
    </>
  );
}
