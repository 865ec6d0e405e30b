"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { anonymous, describe } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { logIn } from "@/lib/auth";
import { Submit } from "@/components/Submit";

export default function SignUp() {
  const router = useRouter();
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get("email"));
    const password = String(form.get("password"));
    setBusy(true);
    setMessage({ kind: "info", text: "Creating your account…" });
    const { error, response } = await anonymous.POST("/auth/register", {
      body: { email, password, name: String(form.get("name")) },
    });
    if (error) {
      setBusy(false);
      setMessage({
        kind: "error",
        text: response.status === 409 ? "An account with this email already exists." : describe(error, response),
      });
      return;
    }
    const failure = await logIn(email, password);
    setBusy(false);
    if (failure) setMessage({ kind: "error", text: failure });
    else router.push("/app/documents");
  }

  return (
    <main id="main" className="card">
      <PageTitle>Create your Stratus account</PageTitle>
      <form className="stack" onSubmit={submit}>
        <label>
          Name
          <input name="name" autoComplete="name" required maxLength={200} />
        </label>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required maxLength={320} />
        </label>
        <label>
          Password <span className="hint">12 to 128 characters</span>
          <input name="password" type="password" autoComplete="new-password" required minLength={12} maxLength={128} />
        </label>
        <Submit disabled={busy}>
          Sign up
        </Submit>
      </form>
      <Status message={message} />
      <p>
        Already registered? <Link href="/login">Sign in</Link>
      </p>
    </main>
  );
}
