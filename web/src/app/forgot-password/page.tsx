"use client";
import Link from "next/link";
import { useState } from "react";
import { anonymous, describe } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { Submit } from "@/components/Submit";

export default function ForgotPassword() {
  const [message, setMessage] = useState<Message>(null);

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const email = String(new FormData(event.currentTarget).get("email"));
    const { error, response } = await anonymous.POST("/auth/password-reset", { body: { email } });
    setMessage(
      error
        ? { kind: "error", text: describe(error, response) }
        : { kind: "info", text: `If an account exists for ${email}, an email with a reset link is on its way.` },
    );
  }

  return (
    <main id="main" className="card">
      <PageTitle>Reset your password</PageTitle>
      <form className="stack" onSubmit={submit}>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required />
        </label>
        <Submit>Email me a reset link</Submit>
      </form>
      <Status message={message} />
      <p>
        <Link href="/login">Back to sign in</Link>
      </p>
    </main>
  );
}
