"use client";
import { useCallback, useEffect, useState } from "react";
import { api, describe, type Notification } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";

export default function Notifications() {
  const [items, setItems] = useState<Notification[] | null>(null);
  const [message, setMessage] = useState<Message>(null);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/notifications", { params: { query: { limit: 50 } } });
    if (data) setItems(data.items);
    else setMessage({ kind: "error", text: describe(error, response) });
  }, []);

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 5000); // new ones show up without a reload
    return () => clearInterval(timer);
  }, [load]);

  async function markRead(item: Notification) {
    const { error, response } = await api.POST("/notifications/{id}/read", { params: { path: { id: item.id } } });
    if (!response.ok) {
      setMessage({ kind: "error", text: describe(error, response) });
      return;
    }
    setMessage({ kind: "info", text: `Marked “${item.subject}” as read.` });
    await load();
  }

  return (
    <>
      <PageTitle>Notifications</PageTitle>
      <Status message={message} />
      {items && items.length === 0 ? <p>No notifications yet.</p> : null}
      <ul aria-label="Notifications">
        {(items ?? []).map((item) => (
          <li key={item.id} className={item.read_at ? "" : "unread"} data-kind={item.kind}>
            <h2>{item.subject}</h2>
            <p>{item.body}</p>
            <p className="hint">
              {new Date(item.created_at).toLocaleString()} · {item.read_at ? "read" : "unread"}{" "}
              {item.read_at ? null : (
                <button type="button" onClick={() => void markRead(item)} aria-label={`Mark “${item.subject}” as read`}>
                  Mark as read
                </button>
              )}
            </p>
          </li>
        ))}
      </ul>
    </>
  );
}
