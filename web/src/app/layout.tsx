import type { Metadata } from "next";
import "./globals.css";

export const metadata: Metadata = {
  title: "Stratus",
  description: "Documents, search and notifications on the Stratus API.",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a className="skip" href="#main">
          Skip to content
        </a>
        {children}
      </body>
    </html>
  );
}
