"use client";
// The caller's documents: upload (presigned POST, with progress), live status until ready or
// failed (polling), download, rename, delete. A viewer reads only: no upload or write control.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, describe, type Document } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { contentTypeOf, uploadFile } from "@/lib/upload";
import { useSession } from "@/lib/useSession";
import { Submit } from "@/components/Submit";

const SETTLED = new Set(["ready", "failed"]);
const POLL_MS = 1000;

export default function Documents() {
  const session = useSession();
  const canWrite = session.status === "signed-in" && session.user.role !== "viewer";
  const [documents, setDocuments] = useState<Document[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [message, setMessage] = useState<Message>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const load = useCallback(async () => {
    const { data, error, response } = await api.GET("/documents", { params: { query: { limit: 100 } } });
    if (data) setDocuments(data.items);
    else setMessage({ kind: "error", text: describe(error, response) });
    setLoaded(true);
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // A document's fresh state; when it has just become ready or failed, say so.
  const shown = useRef<Document[]>([]);
  shown.current = documents;
  const track = useCallback((data: Document) => {
    const before = shown.current.find((d) => d.id === data.id);
    if (before && before.status !== data.status && SETTLED.has(data.status)) {
      setMessage(
        data.status === "ready"
          ? { kind: "info", text: `“${data.title}” is ready.` }
          : { kind: "error", text: `“${data.title}” failed: ${data.error ?? "unknown error"}` },
      );
    }
    setDocuments((all) => all.map((d) => (d.id === data.id ? data : d)));
  }, []);

  // Live status: poll each document that is still on its way until it is ready or failed.
  const pending = documents.filter((d) => !SETTLED.has(d.status)).map((d) => d.id);
  const pendingKey = pending.join(",");
  useEffect(() => {
    if (!pendingKey) return;
    const timer = setInterval(async () => {
      for (const id of pendingKey.split(",")) {
        const { data } = await api.GET("/documents/{id}", { params: { path: { id } } });
        if (data) track(data);
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [pendingKey, track]);

  async function upload(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const file = fileInput.current?.files?.[0];
    if (!file) return;
    const title = String(new FormData(formElement).get("title") || file.name);
    const contentType = contentTypeOf(file);
    if (!contentType) {
      setMessage({ kind: "error", text: "This kind of file cannot be uploaded: use PDF, text, Markdown, HTML, CSV or JSON." });
      return;
    }
    const { data, error, response } = await api.POST("/documents", {
      body: { title, filename: file.name, content_type: contentType, size_bytes: file.size },
    });
    if (!data) {
      setMessage({
        kind: "error",
        text: response.status === 403 ? "Your role may not upload documents." : describe(error, response),
      });
      return;
    }
    setDocuments((all) => [data.document, ...all]);
    setProgress(0);
    setMessage({ kind: "info", text: `Uploading “${title}”…` });
    try {
      await uploadFile(data.upload, file, setProgress);
      setMessage({ kind: "info", text: `“${title}” is uploaded: processing.` });
      formElement.reset();
      const fresh = await api.GET("/documents/{id}", { params: { path: { id: data.document.id } } });
      if (fresh.data) track(fresh.data);
    } catch (failure) {
      setMessage({ kind: "error", text: (failure as Error).message });
    } finally {
      setProgress(null);
    }
  }

  async function download(doc: Document) {
    const { data, error, response } = await api.GET("/documents/{id}/download", { params: { path: { id: doc.id } } });
    if (data) window.location.assign(data.url);
    else setMessage({ kind: "error", text: response.status === 409 ? "No file was uploaded for this document yet." : describe(error, response) });
  }

  async function rename(doc: Document, title: string) {
    const { data, error, response } = await api.PATCH("/documents/{id}", { params: { path: { id: doc.id } }, body: { title } });
    if (data) {
      setDocuments((all) => all.map((d) => (d.id === data.id ? data : d)));
      setMessage({ kind: "info", text: `Renamed to “${data.title}”.` });
      return true;
    }
    setMessage({ kind: "error", text: describe(error, response) });
    return false;
  }

  async function remove(doc: Document) {
    const { error, response } = await api.DELETE("/documents/{id}", { params: { path: { id: doc.id } } });
    if (response.ok) {
      setDocuments((all) => all.filter((d) => d.id !== doc.id));
      setMessage({ kind: "info", text: `“${doc.title}” was deleted.` });
    } else setMessage({ kind: "error", text: describe(error, response) });
  }

  return (
    <>
      <PageTitle>Documents</PageTitle>
      {canWrite ? (
        <section aria-labelledby="upload-heading">
          <h2 id="upload-heading">Upload a document</h2>
          <form className="stack" onSubmit={upload}>
            <label>
              Title <span className="hint">optional: the file name otherwise</span>
              <input name="title" maxLength={200} />
            </label>
            <label>
              File <span className="hint">PDF, text, Markdown, HTML, CSV or JSON, up to 10 MiB</span>
              <input ref={fileInput} name="file" type="file" required accept=".pdf,.txt,.md,.html,.csv,.json" />
            </label>
            <Submit disabled={progress !== null}>
              Upload
            </Submit>
            {progress !== null ? (
              <label>
                Upload progress
                <progress max={1} value={progress} aria-valuetext={`${Math.round(progress * 100)} %`} />
              </label>
            ) : null}
          </form>
        </section>
      ) : (
        <p className="hint" id="read-only">
          Your role is viewer: you can read and search documents, not upload or change them.
        </p>
      )}
      <Status message={message} />
      <h2>Your documents</h2>
      {loaded && documents.length === 0 ? <p>No documents yet.</p> : null}
      {documents.length > 0 ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">Status</th>
              <th scope="col">Size</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {documents.map((doc) => (
              <Row key={doc.id} doc={doc} canWrite={canWrite} onDownload={download} onRename={rename} onDelete={remove} />
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}

function Row({
  doc,
  canWrite,
  onDownload,
  onRename,
  onDelete,
}: {
  doc: Document;
  canWrite: boolean;
  onDownload: (doc: Document) => void;
  onRename: (doc: Document, title: string) => Promise<boolean>;
  onDelete: (doc: Document) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  return (
    <tr data-document-id={doc.id}>
      <td>
        {editing ? (
          <form
            className="actions"
            onSubmit={async (event) => {
              event.preventDefault();
              const title = String(new FormData(event.currentTarget).get("title"));
              if (await onRename(doc, title)) setEditing(false);
            }}
          >
            <label>
              New title
              <input name="title" defaultValue={doc.title} required maxLength={200} autoFocus />
            </label>
            <Submit>Save</Submit>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <>
            {doc.title}
            <br />
            <span className="hint">{doc.filename}</span>
          </>
        )}
      </td>
      <td>
        <span className={`badge ${doc.status}`} data-status={doc.status}>
          {doc.status.replace("_", " ")}
        </span>
        {doc.error ? <div className="error">{doc.error}</div> : null}
      </td>
      <td>{formatBytes(doc.size_bytes)}</td>
      <td>
        <div className="actions">
          <button type="button" onClick={() => onDownload(doc)} aria-label={`Download ${doc.title}`} disabled={doc.status === "pending_upload"}>
            Download
          </button>
          {canWrite && !editing ? (
            <button type="button" onClick={() => setEditing(true)} aria-label={`Rename ${doc.title}`}>
              Rename
            </button>
          ) : null}
          {canWrite && !confirming ? (
            <button type="button" onClick={() => setConfirming(true)} aria-label={`Delete ${doc.title}`}>
              Delete
            </button>
          ) : null}
          {confirming ? (
            <span role="group" aria-label={`Confirm deleting ${doc.title}`}>
              <button type="button" onClick={() => onDelete(doc)}>
                Yes, delete
              </button>{" "}
              <button type="button" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </span>
          ) : null}
        </div>
      </td>
    </tr>
  );
}

function formatBytes(size: number | null | undefined): string {
  if (size == null) return "—";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}
