import { PageHeader } from "../components/ui.tsx";

/** Shown at a page this console does not have. */
export function NotFoundPage({ path }: { path: string }) {
  return (
    <section>
      <PageHeader title="No such page" />
      <p>The console has no page at {path}.</p>
    </section>
  );
}
