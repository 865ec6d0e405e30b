"use client";
// For admins: every account, its role and whether it is active.
import { useCallback, useEffect, useState } from "react";
import { api, describe, type Role, type User } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { useSession } from "@/lib/useSession";

const ROLES: Role[] = ["admin", "member", "viewer"];

export default function Users() {
  const session = useSession();
  const [users, setUsers] = useState<User[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [message, setMessage] = useState<Message>(null);

  const load = useCallback(async (after?: string) => {
    const { data, error, response } = await api.GET("/users", { params: { query: { limit: 100, cursor: after } } });
    if (!data) {
      setMessage({ kind: "error", text: response.status === 403 ? "Only admins may list the users." : describe(error, response) });
      return;
    }
    setUsers((all) => (after ? [...all, ...data.items] : data.items));
    setCursor(data.next_cursor ?? null);
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function update(user: User, changes: { role?: Role; is_active?: boolean }) {
    const { data, error, response } = await api.PATCH("/users/{id}", { params: { path: { id: user.id } }, body: changes });
    if (data) {
      setUsers((all) => all.map((u) => (u.id === data.id ? data : u)));
      setMessage({
        kind: "info",
        text: changes.role ? `${data.email} is now ${data.role}.` : `${data.email} is ${data.is_active ? "active" : "deactivated"}.`,
      });
    } else {
      setMessage({ kind: "error", text: describe(error, response) });
      await load();
    }
  }

  if (session.status === "signed-in" && session.user.role !== "admin") {
    return (
      <>
        <PageTitle>Users</PageTitle>
        <p role="alert">Only admins may see this page.</p>
      </>
    );
  }
  return (
    <>
      <PageTitle>Users</PageTitle>
      <Status message={message} />
      <table>
        <thead>
          <tr>
            <th scope="col">Email</th>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Active</th>
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.id} data-email={user.email}>
              <td>{user.email}</td>
              <td>{user.name}</td>
              <td>
                <label>
                  <span className="hint">Role of {user.email}</span>
                  <select value={user.role} onChange={(e) => void update(user, { role: e.target.value as Role })}>
                    {ROLES.map((role) => (
                      <option key={role} value={role}>
                        {role}
                      </option>
                    ))}
                  </select>
                </label>
              </td>
              <td>
                {user.is_active ? (
                  <button type="button" onClick={() => void update(user, { is_active: false })} aria-label={`Deactivate ${user.email}`}>
                    Deactivate
                  </button>
                ) : (
                  <button type="button" onClick={() => void update(user, { is_active: true })} aria-label={`Reactivate ${user.email}`}>
                    Reactivate
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {cursor ? (
        <button type="button" onClick={() => void load(cursor)}>
          Load more
        </button>
      ) : null}
    </>
  );
}
