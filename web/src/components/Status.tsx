"use client";
// One live region per page: screen readers announce what changed (polite), and errors at once.
export type Message = { kind: "info" | "error"; text: string } | null;

export function Status({ message }: { message: Message }) {
  return (
    <>
      <p className="status" role="status" aria-live="polite">
        {message?.kind === "info" ? message.text : ""}
      </p>
      <p className="error" role="alert">
        {message?.kind === "error" ? message.text : ""}
      </p>
    </>
  );
}
