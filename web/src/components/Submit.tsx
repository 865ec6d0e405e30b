"use client";
import { useEffect, useState } from "react";

/** A form's submit button, disabled until the page is interactive: a static page shows its
 * forms before its script runs, and a click then would submit the form natively (a GET with
 * the password in the address bar). */
export function Submit({ children, disabled = false }: { children: React.ReactNode; disabled?: boolean }) {
  const [ready, setReady] = useState(false);
  useEffect(() => setReady(true), []);
  return (
    <button type="submit" disabled={!ready || disabled}>
      {children}
    </button>
  );
}
