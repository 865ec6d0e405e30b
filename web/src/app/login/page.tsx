"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { logIn } from "@/lib/auth";
import { useSession } from "@/lib/useSession";
import { Submit } from "@/components/Submit";

export default function LogIn() {
  const router = useRouter();
  const session = useSession();
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState(false);
  const reason = session.status === "signed-out" ? session.reason : undefined;

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setMessage({ kind: "info", text: "Signing in…" });
    const failure = await logIn(String(form.get("email")), String(form.get("password")));
    setBusy(false);
    if (failure) setMessage({ kind: "error", text: failure });
    else router.push("/app/documents");
  }

  return (
    <main id="main" className="card">
      <PageTitle>Sign in to Stratus</PageTitle>
      {reason ? <p className="hint">{reason}</p> : null}
      <form className="stack" onSubmit={submit}>
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <Submit disabled={busy}>
          Sign in
        </Submit>
      </form>
      <Status message={message} />
      <p>
        New here? <Link href="/signup">Create an account</Link> · <Link href="/forgot-password">Forgot your password?</Link>
      </p>
    </main>
  );
}
