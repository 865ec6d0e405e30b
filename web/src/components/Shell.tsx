"use client";
// The signed-in frame: the navigation, and a guard that picks the session up again on a page
// load (refresh cookie) or sends the visitor to the sign-in page.
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect } from "react";
import { logOut, restore } from "@/lib/auth";
import { useSession } from "@/lib/useSession";

const LINKS = [
  { href: "/app/documents", label: "Documents" },
  { href: "/app/search", label: "Search" },
  { href: "/app/notifications", label: "Notifications" },
  { href: "/app/account", label: "Account" },
];

export function Shell({ children }: { children: React.ReactNode }) {
  const session = useSession();
  const router = useRouter();
  const pathname = usePathname();

  useEffect(() => {
    void restore();
  }, []);
  useEffect(() => {
    if (session.status === "signed-out") router.replace("/login");
  }, [session.status, router]);

  if (session.status !== "signed-in") {
    return (
      <p className="status" role="status" aria-live="polite">
        {session.status === "unknown" ? "Loading your session…" : "Signed out."}
      </p>
    );
  }
  const links = session.user.role === "admin" ? [...LINKS, { href: "/app/admin/users", label: "Users" }] : LINKS;
  return (
    <>
      <header className="topbar">
        <nav aria-label="Main">
          <ul>
            {links.map((link) => (
              <li key={link.href}>
                <Link href={link.href} aria-current={pathname === link.href ? "page" : undefined}>
                  {link.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span>
            {session.user.email} <span className="role">({session.user.role})</span>
          </span>
          <button type="button" onClick={() => void logOut()}>
            Log out
          </button>
        </div>
      </header>
      <main id="main">{children}</main>
    </>
  );
}
