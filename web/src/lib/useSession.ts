"use client";
import { useSyncExternalStore } from "react";
import { getSession, subscribe, type SessionState } from "./session";

const unknown: SessionState = { status: "unknown", user: null };

export function useSession(): SessionState {
  return useSyncExternalStore(subscribe, getSession, () => unknown);
}
