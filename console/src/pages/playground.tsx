import { PageHeader } from "../components/ui.tsx";

export function PlaygroundPage() {
  return <PageHeader title="Playground" />;
}
