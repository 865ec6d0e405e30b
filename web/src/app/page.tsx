"use client";
// The front door: straight to the documents when a session comes back, else to sign in.
import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { restore } from "@/lib/auth";
import { getSession } from "@/lib/session";

export default function Home() {
  const router = useRouter();
  useEffect(() => {
    void restore().then(() =>
      router.replace(getSession().status === "signed-in" ? "/app/documents" : "/login"),
    );
  }, [router]);
  return (
    <main id="main">
      <p role="status">Loading…</p>
    </main>
  );
}
