import Link from "next/link";

export default function NotFound() {
  return (
    <main id="main" className="card">
      <h1>No such page</h1>
      <p>
        <Link href="/">Go to Stratus</Link>
      </p>
    </main>
  );
}
