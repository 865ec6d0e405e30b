"use client";
// Search over the caller's ready documents; the passages come back best first, with the
// query's words highlighted (<mark>) where the passage has them.
import { useState } from "react";
import { api, describe, type SearchResult } from "@/api/client";
import { PageTitle } from "@/components/PageTitle";
import { Status, type Message } from "@/components/Status";
import { Submit } from "@/components/Submit";

export default function Search() {
  const [results, setResults] = useState<SearchResult[] | null>(null);
  const [terms, setTerms] = useState<string[]>([]);
  const [message, setMessage] = useState<Message>(null);

  async function submit(event: React.FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const query = String(new FormData(event.currentTarget).get("query")).trim();
    if (!query) return;
    setMessage({ kind: "info", text: "Searching…" });
    const { data, error, response } = await api.POST("/search", { body: { query, top_k: 10 } });
    if (!data) {
      setMessage({ kind: "error", text: describe(error, response) });
      return;
    }
    setTerms(query.split(/\s+/).filter((word) => word.length >= 3));
    setResults(data.results);
    setMessage({ kind: "info", text: `${data.results.length} passage${data.results.length === 1 ? "" : "s"} found.` });
  }

  return (
    <>
      <PageTitle>Search</PageTitle>
      <form className="stack" role="search" onSubmit={submit}>
        <label>
          What are you looking for?
          <input name="query" type="search" required maxLength={2000} />
        </label>
        <Submit>Search</Submit>
      </form>
      <Status message={message} />
      {results && results.length > 0 ? (
        <ol className="results" aria-label="Results">
          {results.map((result) => (
            <li key={`${result.document_id}-${result.chunk_index}`}>
              <strong>{result.title}</strong> <span className="hint">passage {result.chunk_index + 1} · score {result.score.toFixed(2)}</span>
              <p>
                <Highlighted text={result.text} terms={terms} />
              </p>
            </li>
          ))}
        </ol>
      ) : null}
      {results && results.length === 0 ? <p>Nothing matched. Only documents that are ready are searched.</p> : null}
    </>
  );
}

function Highlighted({ text, terms }: { text: string; terms: string[] }) {
  if (terms.length === 0) return <>{text}</>;
  const pattern = new RegExp(`(${terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`, "gi");
  return (
    <>
      {text.split(pattern).map((part, index) => (index % 2 === 1 ? <mark key={index}>{part}</mark> : part))}
    </>
  );
}
