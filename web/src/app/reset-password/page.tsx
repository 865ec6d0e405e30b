"use client";
// Reached from the emailed link: /reset-password#token=... (the token rides in the fragment,
// which browsers never send to a server, so no CDN or access log records it).
import Link from "next/link";
import { useEffect, useState } from "react";
import { anonymous, describe } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { Submit } from "@/components/Submit";

export default function ResetPassword() {
  const [token, setToken] = useState("");
  const [done, setDone] = useState(false);
  const [message, setMessage] = useState<Message>(null);

  useEffect(() => {
    const fromLink = new URLSearchParams(window.location.hash.slice(1)).get("token");
    if (fromLink) {
      setToken(fromLink);
      history.replaceState(null, "", window.location.pathname); // out of the address bar
    }
  }, []);

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const password = String(form.get("password"));
    if (password !== String(form.get("confirm"))) {
      setMessage({ kind: "error", text: "The two passwords differ." });
      return;
    }
    const { error, response } = await anonymous.POST("/auth/password-reset/confirm", {
      body: { token: String(form.get("token")), new_password: password },
    });
    if (error) {
      setMessage({
        kind: "error",
        text:
          response.status === 400
            ? "This reset link is not valid any more (used, expired or mistyped): ask for a new one."
            : describe(error, response),
      });
      return;
    }
    setDone(true);
    setMessage({ kind: "info", text: "Your password was changed. Every session was signed out." });
  }

  return (
    <main id="main" className="card">
      <PageTitle>Choose a new password</PageTitle>
      {done ? null : (
        <form className="stack" onSubmit={submit}>
          <label>
            Reset token <span className="hint">filled in from the emailed link</span>
            <input name="token" value={token} onChange={(e) => setToken(e.target.value)} required maxLength={256} />
          </label>
          <label>
            New password <span className="hint">12 to 128 characters</span>
            <input name="password" type="password" autoComplete="new-password" required minLength={12} maxLength={128} />
          </label>
          <label>
            New password, again
            <input name="confirm" type="password" autoComplete="new-password" required minLength={12} maxLength={128} />
          </label>
          <Submit>Set the new password</Submit>
        </form>
      )}
      <Status message={message} />
      <p>
        {done ? <Link href="/login">Sign in with the new password</Link> : <Link href="/forgot-password">Ask for a new link</Link>}
      </p>
    </main>
  );
}
