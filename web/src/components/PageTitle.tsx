"use client";
import { useEffect, useRef } from "react";

/** The page's h1, focused when the page opens so keyboard and screen-reader users start there. */
export function PageTitle({ children }: { children: React.ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}
